package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/examples/internal/reexec"
)

func TestMain(m *testing.M) {
	reexec.Main(main)
	goleak.VerifyTestMain(m)
}

// The fake web's latencies and every deadline are timers, so under synctest
// the crawl is deterministic, and takes no real time.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(t.Context(), nil, &stdout, &stderr))
		assert.Equal(t, `calendar.example: 21 pages, 21 ok (10500 bytes)
go.example: 8 pages, 5 ok (14300 bytes)
  https://go.example/play: index 0: https://go.example/play.js: timeout after 100ms
  https://go.example/blog/2: index 1: https://go.example/img/broken.png: 500 Internal Server Error
  https://go.example/missing: 404 Not Found
slow.example: 3 pages, 2 ok (1200 bytes)
  https://slow.example/reports: timeout after 200ms
`, stdout.String())
		assert.True(t, strings.HasSuffix(stderr.String(),
			"\r28 pages ok, 4 failed, 0 interrupted, 0 in flight\n"), "stderr: %q", stderr.String())
	})
}

// A site that outruns its budget (the calendar trap, followed 50 links deep)
// is cut off; the other sites are not (CollectErrors), and the pages it was
// fetching are reported as interrupted.
func TestSiteBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), []string{"-max-depth=50"}, &stdout, &stderr)
		require.ErrorIs(t, err, nursery.ErrTimeout)
		assert.EqualError(t, err, "crawl: calendar.example: timeout after 1s")
		assert.True(t, strings.HasPrefix(stdout.String(), `calendar.example: 34 pages, 33 ok (16500 bytes)
  https://calendar.example/day/33: interrupted
go.example: 8 pages, 5 ok (14300 bytes)
`), "stdout:\n%s", stdout.String())
	})
}

// signalWhen is an io.Writer that calls fire once, when what was written
// so far matches re.
type signalWhen struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	re   *regexp.Regexp
	fire func()
}

func (s *signalWhen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if s.fire != nil && s.re.Match(s.buf.Bytes()) {
		s.fire()
		s.fire = nil
	}
	return len(p), nil
}

// inFlight matches the progress line once both sites' home pages are being
// fetched (the crawl runs 2 sites at once).
var inFlight = regexp.MustCompile(`\b2 in flight`)

// A real SIGINT, delivered to this process while the crawl is in flight,
// cancels every level; run returns the cancellation and TestMain's goleak
// check finds nothing left running.
func TestInterrupt(t *testing.T) {
	ctx, stop := signal.NotifyContext(t.Context(), os.Interrupt)
	defer stop()
	var stdout bytes.Buffer
	stderr := &signalWhen{re: inFlight, fire: func() {
		assert.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	}}
	err := run(ctx, []string{"-unit=1h"}, &stdout, stderr) // nothing finishes in time
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, `calendar.example: 1 pages, 0 ok (0 bytes)
  https://calendar.example/: interrupted
go.example: 1 pages, 0 ok (0 bytes)
  https://go.example/: interrupted
slow.example: 0 pages, 0 ok (0 bytes)
`, stdout.String())
}

// The program, run as a child process and sent SIGINT (Ctrl-C) while it
// crawls, prints its partial report and exits with status 130.
func TestProgramInterrupt(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := reexec.Command(ctx, t, "-unit=1h")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderrPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	// Read the progress line until a page is in flight, then press Ctrl-C.
	var stderr bytes.Buffer
	r := bufio.NewReader(io.TeeReader(stderrPipe, &stderr))
	for !inFlight.Match(stderr.Bytes()) {
		if _, err := r.ReadByte(); err != nil {
			t.Fatalf("reading stderr: %v; stderr so far:\n%s", err, stderr.String())
		}
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	_, err = io.Copy(io.Discard, r)
	require.NoError(t, err)
	code := reexec.ExitCode(t, cmd.Wait())

	assert.Equal(t, 130, code, "stderr:\n%s", stderr.String())
	assert.True(t, strings.HasSuffix(stderr.String(), " 0 in flight\ncrawler: interrupted\n"), "stderr: %q", stderr.String())
	assert.Contains(t, stdout.String(), "  https://calendar.example/: interrupted\n")
}
