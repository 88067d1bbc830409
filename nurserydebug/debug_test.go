package nurserydebug_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
)

// nextLine returns "dir/file.go:N" for the line after the caller's, as debug
// mode prints the site of a Go, Spawn, Start or New written there.
func nextLine() string {
	_, file, line, _ := runtime.Caller(1)
	return filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file) + ":" + fmt.Sprint(line+1)
}

// recorder is a slog.Handler that keeps the records it handles.
type recorder struct {
	mu      sync.Mutex
	records []record
}

type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, record{rec.Level, rec.Message, attrs})
	return nil
}

func (r *recorder) all() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.records...)
}

func (r *recorder) logger() *slog.Logger { return slog.New(r) }

// panicHead is a *PanicError's message without the stack.
func panicHead(t *testing.T, err error) string {
	t.Helper()
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	head, _, _ := strings.Cut(pe.Error(), "\n\n")
	return head
}

func TestDebugPanicNamesSpawnSite(t *testing.T) {
	t.Parallel()
	boom := func(context.Context) error { panic("boom") }
	tests := []struct {
		name  string
		spawn func(n *nursery.Nursery) (site string)
	}{
		{"Go", func(n *nursery.Nursery) string {
			site := nextLine()
			n.Go(boom, nursery.Name("read"))
			return site
		}},
		{"Spawn", func(n *nursery.Nursery) string {
			site := nextLine()
			nursery.Spawn(n, func(ctx context.Context) (int, error) { return 0, boom(ctx) }, nursery.Name("read"))
			return site
		}},
		{"Start", func(n *nursery.Nursery) string {
			site := nextLine()
			_, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
				ready(1)
				return boom(ctx)
			}, nursery.Name("read"))
			assert.NoError(t, err)
			return site
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nurserydebug.On(), nursery.PanicsAsErrors(), nursery.WithName("conn-17"))
			site := tt.spawn(n)
			err := n.Wait()
			assert.Equal(t, `panic in task "read" (conn-17/read, spawned at `+site+`): boom`, panicHead(t, err))
		})
	}
}

func TestDebugOffPanicHasNoSite(t *testing.T) {
	t.Parallel()
	if debugFromEnv() {
		t.Skip("NURSERY_DEBUG is set")
	}
	n := nursery.New(t.Context(), nursery.PanicsAsErrors(), nursery.WithName("conn-17"))
	n.Go(func(context.Context) error { panic("boom") }, nursery.Name("read"))
	assert.Equal(t, `panic in task "read": boom`, panicHead(t, n.Wait()))
}

func debugFromEnv() bool {
	v := os.Getenv("NURSERY_DEBUG")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

func TestDebugErrorNamesPathAndSite(t *testing.T) {
	t.Parallel()
	errEOF := errors.New("eof")
	var site string
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			// A nursery inside the task is in debug mode too and knows
			// its place: server/conn-17/read.
			return nursery.Run(ctx, func(n *nursery.Nursery) error {
				site = nextLine()
				n.Go(func(context.Context) error { return errEOF }, nursery.Name("read"))
				return nil
			})
		}, nursery.Name("conn-17"))
		return nil
	}, nurserydebug.On(), nursery.WithName("server"))
	require.ErrorIs(t, err, errEOF)
	assert.Equal(t, "server/conn-17/read ["+site+"]: eof", err.Error())
}

func TestDebugUnnamedTaskErrorNamesSite(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	n := nursery.New(t.Context(), nurserydebug.On())
	site := nextLine()
	n.Go(func(context.Context) error { return errBoom })
	err := n.Wait()
	require.ErrorIs(t, err, errBoom)
	assert.Equal(t, "["+site+"]: boom", err.Error())
}

func TestDebugPprofLabels(t *testing.T) {
	t.Parallel()
	labels := func(ctx context.Context) string {
		nur, _ := pprof.Label(ctx, "nursery")
		task, _ := pprof.Label(ctx, "task")
		return nur + " " + task
	}
	var inDebug, inChild string
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			inDebug = labels(ctx)
			return nursery.Run(ctx, func(n *nursery.Nursery) error {
				n.Go(func(ctx context.Context) error {
					inChild = labels(ctx)
					return nil
				}, nursery.Name("read"))
				return nil
			}, nursery.WithName("conn"))
		}, nursery.Name("accept"))
		return nil
	}, nurserydebug.On(), nursery.WithName("server"))
	require.NoError(t, err)
	assert.Equal(t, "server server/accept", inDebug)
	assert.Equal(t, "server/accept/conn server/accept/conn/read", inChild)
}

// leak creates a nursery and drops it without Wait; it returns the site
// of the New.
//
//go:noinline
func leak(name string, l *slog.Logger) string {
	site := nextLine()
	nursery.New(context.Background(), nurserydebug.On(), nursery.WithName(name), nurserydebug.Logger(l))
	return site
}

//go:noinline
func waited(name string, l *slog.Logger) {
	n := nursery.New(context.Background(), nurserydebug.On(), nursery.WithName(name), nurserydebug.Logger(l))
	n.Go(func(context.Context) error { return nil })
	_ = n.Wait()
}

// collect runs the garbage collector until the recorder holds n records,
// a bounded number of times.
func collect(rec *recorder, n int) {
	for range 100 {
		if len(rec.all()) >= n {
			return
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // let the cleanup goroutine run
	}
}

func TestDebugNurseryNeverWaitedIsReported(t *testing.T) {
	// Not parallel: other tests' garbage would slow the collection down.
	var rec, control recorder
	waited("waited", control.logger())
	site := leak("leaky", rec.logger())
	collect(&rec, 1)
	collect(&control, 1) // more cycles, in which the waited one must stay silent

	require.Len(t, rec.all(), 1)
	r := rec.all()[0]
	assert.Equal(t, slog.LevelError, r.level)
	assert.Equal(t, "nursery: a Nursery became unreachable without Wait", r.msg)
	assert.Equal(t, map[string]string{"nursery": "leaky", "created": site}, r.attrs)
	assert.Empty(t, control.all(), "a waited nursery was reported")

	doc, err := nurserytree.JSON()
	require.NoError(t, err)
	assert.NotContains(t, string(doc), `"name": "leaky"`, "the collected nursery is still in the tree")
}

func TestDebugSlowTaskAndWaitReportedOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		created := nextLine()
		n := nursery.New(t.Context(), nurserydebug.On(), nursery.WithName("slow"),
			nurserydebug.Logger(rec.logger()), nurserydebug.Slow(time.Second))
		site := nextLine()
		n.Go(func(context.Context) error { time.Sleep(5 * time.Second); return nil }, nursery.Name("sleeper"))
		n.Go(func(context.Context) error { time.Sleep(500 * time.Millisecond); return nil }, nursery.Name("quick"))

		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		assert.Empty(t, rec.all(), "reported before the threshold")

		time.Sleep(400 * time.Millisecond) // t = 1.399s; Wait starts now
		require.NoError(t, n.Wait())

		want := []record{
			{slog.LevelWarn, "nursery: slow task", map[string]string{
				"task": "slow/sleeper", "spawned": site, "running": "1s"}},
			{slog.LevelWarn, "nursery: slow Wait", map[string]string{
				"nursery": "slow", "created": created,
				"blocked": "1s", "running": "slow/sleeper (spawned at " + site + ", running for 2.399s)"}},
		}
		assert.Equal(t, want, rec.all())
	})
}

func TestDebugSlowOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		n := nursery.New(t.Context(), nurserydebug.On(), nurserydebug.Logger(rec.logger()), nurserydebug.Slow(0))
		n.Go(func(context.Context) error { time.Sleep(time.Hour); return nil })
		require.NoError(t, n.Wait())
		assert.Empty(t, rec.all())
	})
}

func TestDebugSlowDefaultIsTenSeconds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		n := nursery.New(t.Context(), nurserydebug.On(), nurserydebug.Logger(rec.logger()))
		n.Go(func(context.Context) error { time.Sleep(10*time.Second - 1); return nil })
		n.Go(func(ctx context.Context) error {
			// A nursery inside a task inherits the logger and threshold.
			return nursery.Run(ctx, func(n *nursery.Nursery) error {
				n.Go(func(context.Context) error { time.Sleep(11 * time.Second); return nil }, nursery.Name("inner"))
				return nil
			})
		}, nursery.Name("outer"))
		time.Sleep(11 * time.Second)
		require.NoError(t, n.Wait())
		var msgs []string
		for _, r := range rec.all() {
			msgs = append(msgs, r.msg+" "+r.attrs["task"]+r.attrs["nursery"])
		}
		// At 10s: the inner task, the outer one that waits for it, and
		// the Wait of the inner nursery (started at 0s).
		assert.ElementsMatch(t, []string{
			"nursery: slow task outer/inner",
			"nursery: slow task outer",
			"nursery: slow Wait outer",
		}, msgs)
	})
}

// TestDebugFromEnvironment runs this test binary again with
// NURSERY_DEBUG=1, where a nursery made without Debug is in debug mode.
func TestDebugFromEnvironment(t *testing.T) {
	t.Parallel()
	if os.Getenv("NURSERY_TEST_ENV_CHILD") == "1" {
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestDebugEnvChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "NURSERY_DEBUG=1", "NURSERY_TEST_ENV_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestDebugEnvChild")
}

func TestDebugEnvChild(t *testing.T) {
	if os.Getenv("NURSERY_TEST_ENV_CHILD") != "1" {
		t.Skip("run by TestDebugFromEnvironment")
	}
	n := nursery.New(t.Context(), nursery.PanicsAsErrors())
	site := nextLine()
	n.Go(func(context.Context) error { panic("boom") })
	assert.Equal(t, `panic (spawned at `+site+`): boom`, panicHead(t, n.Wait()))
}

// While an execution trace is recorded, debug-mode nurseries and tasks are
// trace tasks whose logs carry their paths.
func TestDebugTraceTasks(t *testing.T) {
	// Not parallel: the trace is the process's.
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("tracing is on already (go test -trace?): %v", err)
	}
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(context.Context) error { return nil }, nursery.Name("traced-task"))
		return nil
	}, nurserydebug.On(), nursery.WithName("traced-nursery"))
	trace.Stop()
	require.NoError(t, err)
	for _, want := range []string{"nursery.task", "nursery.run", "traced-nursery/traced-task"} {
		assert.True(t, bytes.Contains(buf.Bytes(), []byte(want)), "%q not in the trace", want)
	}
}
