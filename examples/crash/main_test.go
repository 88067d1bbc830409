package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery/examples/internal/reexec"
)

func TestMain(m *testing.M) {
	reexec.Main(main)
	goleak.VerifyTestMain(m)
}

func TestRunSucceeds(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), nil, &out))
	assert.Equal(t, "users.csv: total 6\norders.csv: total 60\ninvoices.csv: total 300\n", out.String())
}

// TestProgram runs the program in a child process, as `go run` would, and
// checks what a user sees: the exit status and stderr.
func TestProgram(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		exitCode int
		stdout   string
		stderr   []string // regexps stderr must match, in this order
	}{
		{
			name:   "success",
			stdout: "users.csv: total 6\norders.csv: total 60\ninvoices.csv: total 300\n",
		},
		{
			name:     "error",
			args:     []string{"-fail=error"},
			exitCode: 1,
			stderr:   []string{`^crash: load orders\.csv: orders\.csv:2: bad amount "twenty"\n$`},
		},
		{
			name:     "panic",
			args:     []string{"-fail=panic"},
			exitCode: 2,
			stderr: []string{
				// The task's name and the panic value ...
				`^panic: panic in task "load orders\.csv": runtime error: index out of range \[1\] with length 1\n`,
				// ... the stack of the goroutine that panicked, down to the faulty line
				// (the package is "main" under go run, "crash" in the test binary) ...
				`\n\s+\S+/examples/crash\.load\(|\n\s+main\.load\(`, `\n\s+/\S+/examples/crash/main\.go:[0-9]+ `,
				// ... and where Run re-raised it in main's goroutine.
				`\ngoroutine 1 \[running\]:\n`, `\.Run\(`, `\n(main|\S+/examples/crash)\.main\(\)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			cmd := reexec.Command(context.Background(), t, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := reexec.ExitCode(t, cmd.Run())
			assert.Equal(t, tt.exitCode, code, "exit status; stderr:\n%s", stderr.String())
			assert.Equal(t, tt.stdout, stdout.String())
			rest := stderr.String()
			for _, want := range tt.stderr {
				loc := regexp.MustCompile(want).FindStringIndex(rest)
				if !assert.NotNil(t, loc, "stderr does not match %q (after the previous match):\n%s", want, stderr.String()) {
					break
				}
				rest = rest[loc[1]:]
			}
			if len(tt.stderr) == 0 {
				assert.Empty(t, stderr.String())
			}
		})
	}
}
