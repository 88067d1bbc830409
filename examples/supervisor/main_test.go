package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	part1, part2, ok := strings.Cut(out.String(), "== part 2: supervisor\n")
	require.True(t, ok, "output:\n%s", out.String())

	assert.Equal(t, `== part 1: fail-fast
requests: stopped, because: lost connection to database
app stopped: app: heartbeat: lost connection to database
errors.Is(err, errLostDB) = true
`, part1)

	// The workers run concurrently, so their log lines interleave in any
	// order, and so do the failures joined by Wait: compare sorted lines. Every
	// log line comes before Wait returns.
	logs, errs, ok := strings.Cut(part2, "supervisor stopped:\n")
	require.True(t, ok, "output:\n%s", out.String())
	assert.Equal(t, []string{
		`level=ERROR msg="giving up" worker=notify attempt=3 err="attempt 3 failed"`,
		`level=ERROR msg="giving up" worker=report attempt=3 err="attempt 3 failed"`,
		`level=WARN msg=restarting worker=notify attempt=1 err="attempt 1 failed"`,
		`level=WARN msg=restarting worker=notify attempt=2 err="attempt 2 failed"`,
		`level=WARN msg=restarting worker=report attempt=1 err="attempt 1 failed"`,
		`level=WARN msg=restarting worker=report attempt=2 err="attempt 2 failed"`,
		`level=WARN msg=restarting worker=resize attempt=1 err="attempt 1 failed"`,
	}, sortedLines(logs))
	assert.Equal(t, []string{
		"supervisor: notify: attempt 3 failed",
		"supervisor: report: attempt 3 failed",
	}, sortedLines(errs))
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return lines
}
