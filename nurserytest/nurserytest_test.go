package nurserytest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytest"
)

func TestMain(m *testing.M) {
	nurserytest.VerifyTestMain(m)
}

// The tests here look at every nursery and goroutine of the process, so
// none of them runs in parallel.

// fakeTB records the failures reported to it. Methods it does not
// override panic (the embedded testing.TB is nil), so a check that used
// one would fail loudly.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Error(args ...any) { f.add(fmt.Sprint(args...)) }

func (f *fakeTB) Errorf(format string, args ...any) { f.add(fmt.Sprintf(format, args...)) }

func (f *fakeTB) add(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, msg)
}

func (f *fakeTB) failures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errors...)
}

func block(ctx context.Context) error { <-ctx.Done(); return nil }

func TestVerifyNoneFailsOnOpenNursery(t *testing.T) {
	n := nursery.New(t.Context(), nursery.WithName("left-open"))
	n.Go(func(ctx context.Context) error {
		return nursery.Run(ctx, func(c *nursery.Nursery) error {
			c.Go(block)
			return nil
		}, nursery.WithName("child"))
	})

	var tb fakeTB
	nurserytest.VerifyNone(&tb)
	failures := tb.failures()
	require.Len(t, failures, 1)
	msg := failures[0]
	assert.True(t, strings.HasPrefix(msg, "nurserytest: 2 nurseries are still open (created and not waited):\n"), msg)
	assert.Contains(t, msg, "\nnursery \"left-open\": running, 1 task\n  nursery \"child\": blocked-in-Wait, 1 task\n")
	assert.NotContains(t, msg, "goroutine", "goroutine stacks in the report")

	n.Cancel(nil)
	require.NoError(t, n.Wait())
	var after fakeTB
	nurserytest.VerifyNone(&after)
	assert.Empty(t, after.failures())
}

func TestVerifyNoneShowsTasksInDebugMode(t *testing.T) {
	n := nursery.New(t.Context(), nursery.WithName("left-open"), nurserydebug.On())
	n.Go(block, nursery.Name("serve"))

	var tb fakeTB
	nurserytest.VerifyNone(&tb)
	failures := tb.failures()
	require.Len(t, failures, 1)
	assert.Regexp(t, `(?m)^nursery "left-open": running, age \S+, 1 task, created at \S+nurserytest_test\.go:\d+\n  task "serve": running, age \S+, spawned at \S+nurserytest_test\.go:\d+$`, failures[0])

	n.Cancel(nil)
	require.NoError(t, n.Wait())
}

func TestVerifyNonePassesGoleakOptions(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		leakyWorker(stop)
	}()
	defer func() {
		close(stop)
		<-done
	}()

	var tb fakeTB
	nurserytest.VerifyNone(&tb)
	require.Len(t, tb.failures(), 1, "goleak did not report the goroutine")
	assert.Contains(t, tb.failures()[0], "leakyWorker")

	var ignoring fakeTB
	cleaned := -1
	nurserytest.VerifyNone(&ignoring,
		goleak.IgnoreTopFunction("github.com/structured-go/nursery/nurserytest_test.leakyWorker"),
		goleak.Cleanup(func(code int) { cleaned = code }))
	assert.Empty(t, ignoring.failures())
	assert.Equal(t, 0, cleaned, "goleak.Cleanup did not run")
}

//go:noinline
func leakyWorker(stop chan struct{}) { <-stop }

// fakeM is a goleak.TestingM whose Run calls run.
type fakeM struct{ run func() int }

func (m fakeM) Run() int { return m.run() }

// stderr runs f and returns what it wrote to os.Stderr.
func stderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = saved }()
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	f()
	os.Stderr = saved
	require.NoError(t, w.Close())
	return <-out
}

func TestVerifyTestMain(t *testing.T) {
	var open *nursery.Nursery
	tests := []struct {
		name     string
		run      func() int
		wantCode int
		wantErr  string
	}{
		{"clean", func() int { return 0 }, 0, ""},
		{"tests failed", func() int { return 3 }, 3, ""},
		{"nursery left open", func() int {
			open = nursery.New(context.Background(), nursery.WithName("left-open"))
			return 0
		}, 1, "nurserytest: errors on successful test run: 1 nursery is still open (created and not waited):\n" +
			"nursery \"left-open\": running, 0 tasks\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := -1
			got := stderr(t, func() {
				// IgnoreCurrent: the test's own goroutines, such as the
				// one reading stderr, are not leaks.
				nurserytest.VerifyTestMain(fakeM{tt.run}, goleak.IgnoreCurrent(), goleak.Cleanup(func(c int) { code = c }))
			})
			assert.Equal(t, tt.wantCode, code)
			if tt.wantErr == "" {
				assert.Empty(t, got)
			} else {
				assert.True(t, strings.HasPrefix(got, tt.wantErr), "%q", got)
			}
			if open != nil {
				require.NoError(t, open.Wait())
				open = nil
			}
		})
	}
}
