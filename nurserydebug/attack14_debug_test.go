package nurserydebug_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
)

// goRun runs the program in testdata/dir with NURSERY_DEBUG set to env
// ("" leaves it unset) and returns its output.
func goRun(t *testing.T, dir, env string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "run", "./testdata/"+dir)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NURSERY_DEBUG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if env != "" {
		cmd.Env = append(cmd.Env, "NURSERY_DEBUG="+env)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// On's doc: debug mode is on "for every nursery created inside its tasks
// or from its context". In a program that links nurserydebug but not
// nurserytree, a nursery created from a debug nursery's context (kept
// alive with context.WithoutCancel, as for work that outlives a request)
// after that nursery's Wait is in debug mode too. (It was only while some
// unrelated debug-mode nursery happened to be open. With nurserytree
// linked, as in this package's test binary, New always looks the scope
// up: see TestAttack14AfterWaitInheritanceWithTree.)
//
// Failed, and was fixed: inheritance from a debug nursery's context after
// its Wait depended on whether another debug nursery was open (a counter of
// open ones gated the scope lookup; now any debug nursery ever made does).
func TestAttack14AfterWaitInheritanceWithoutTree(t *testing.T) {
	t.Parallel()
	out := goRun(t, "attack14_afterwait", "")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, "%s", out)
	// The same nursery, made the same way, must be in the same mode.
	assert.Equal(t, strings.TrimPrefix(lines[1], "other open: "), strings.TrimPrefix(lines[0], "alone: "))
	assert.Contains(t, lines[0], "(a/b, spawned at attack14_afterwait/main.go:17)")
}

// With the tree linked, the same nursery is in debug mode: the behaviour
// the program above should have too.
func TestAttack14AfterWaitInheritanceWithTree(t *testing.T) {
	t.Parallel()
	a := nursery.New(t.Context(), nurserydebug.On(), nursery.WithName("a14"))
	require.NoError(t, a.Wait())
	b := nursery.New(context.WithoutCancel(a.Context()), nursery.WithName("b"), nursery.PanicsAsErrors())
	site := nextLine()
	b.Go(func(context.Context) error { panic("boom") })
	assert.Equal(t, `panic (a14/b, spawned at `+site+`): boom`, panicHead(t, b.Wait()))
}

// NURSERY_DEBUG=1 in a program that links only the root package changes
// nothing: debug mode is not linked.
func TestAttack14EnvWithoutDebugLinked(t *testing.T) {
	t.Parallel()
	want := "root: panic: boom\nt: plain\n"
	assert.Equal(t, want, goRun(t, "attack14_rootonly", "1"))
	assert.Equal(t, want, goRun(t, "attack14_rootonly", ""))
}
