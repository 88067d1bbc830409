//go:build linux

package subprocess_test

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

func TestCommandRunAndOutput(t *testing.T) {
	t.Parallel()
	out, err := subprocess.Command(t.Context(), "sh", "-c", "echo hello; echo oops >&2").Output()
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(out))

	_, err = subprocess.Command(t.Context(), "sh", "-c", "echo bad input >&2; exit 4").Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 4, ee.ExitCode())
	assert.Equal(t, "bad input\n", string(ee.Stderr))

	out, err = subprocess.Command(t.Context(), "sh", "-c", "echo out; echo err >&2").CombinedOutput()
	require.NoError(t, err)
	assert.Equal(t, "out\nerr\n", string(out))

	assert.NoError(t, subprocess.Command(t.Context(), "true").Run())
	assert.Error(t, subprocess.Command(t.Context(), "false").Run())

	c := subprocess.Command(t.Context(), "true")
	require.NoError(t, c.Run())
	assert.EqualError(t, c.Start(), "subprocess: Cmd already started")
	assert.EqualError(t, subprocess.Command(t.Context(), "true").Wait(), "subprocess: Cmd not started")
}

// startWithChild starts sh running a background sleep and reports the
// sleep's pid.
func startWithChild(t *testing.T, ctx context.Context, script string) (*subprocess.Cmd, int) {
	t.Helper()
	c := subprocess.Command(ctx, "sh", "-c", script)
	stdout, err := c.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	return c, pid
}

func TestCommandCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	c, child := startWithChild(t, ctx, "sleep 120 & echo $!; wait")
	shell := c.Process.Pid
	require.False(t, gone(child))

	cause := errors.New("test: enough")
	cancel(cause)
	assert.Same(t, cause, c.Wait(), "Wait returns the context's cause")
	assert.Empty(t, waitGone(5*time.Second, shell, child), "the whole group is killed")
}

func TestCommandKillsStragglers(t *testing.T) {
	t.Parallel()
	// The shell exits at once, leaving the sleep behind in its group.
	c, child := startWithChild(t, t.Context(), "sleep 120 >/dev/null 2>&1 & echo $!")
	require.NoError(t, c.Wait())
	assert.Empty(t, waitGone(5*time.Second, child), "Wait kills what the program left in its group")
}

func TestCommandInNursery(t *testing.T) {
	t.Parallel()
	start := time.Now()
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			return subprocess.Command(ctx, "sleep", "120").Run()
		}, nursery.Name("sleeper"))
		n.Go(func(ctx context.Context) error {
			return subprocess.Command(ctx, "sh", "-c", "exit 3").Run()
		}, nursery.Name("failer"))
		return nil
	})
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the failure is reported")
	assert.Equal(t, 3, ee.ExitCode())
	assert.ErrorContains(t, err, "failer: exit status 3")
	assert.NotContains(t, err.Error(), "sleeper", "the cancelled sibling is not a failure")
	assert.Less(t, time.Since(start), time.Minute)
}

func TestCommandContextDoneBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("test: too late")
	cancel(cause)
	assert.Same(t, cause, subprocess.Command(ctx, "true").Run())
}
