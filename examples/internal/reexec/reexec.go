// Package reexec lets an example's test run the example's main function in a
// child process: the test binary re-executes itself with a marker in its
// environment, and TestMain hands control to main instead of to the tests.
// That is how the tests check what only a whole process shows: its exit
// status, what it prints on a panic, and how it reacts to a real SIGINT.
package reexec

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

const marker = "NURSERY_EXAMPLE_REEXEC_MAIN"

// Main runs main and exits with status 0 when main returns, if the test
// binary was started by [Command]; otherwise it returns at once. Call it
// first in TestMain, before goleak.VerifyTestMain.
func Main(main func()) {
	if os.Getenv(marker) != "1" {
		return
	}
	main()
	os.Exit(0)
}

// Command returns a command that runs the test binary's main function with
// args as its command-line arguments (os.Args[1:]). The child is killed if
// ctx ends, and Wait gives up on its output 5 s after that.
func Command(ctx context.Context, t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), marker+"=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// ExitCode returns the exit status of a command that Run or Wait returned
// err for: 0 for a nil err, -1 if the process did not exit normally.
func ExitCode(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("running the example: %v", err)
	}
	return ee.ExitCode()
}
