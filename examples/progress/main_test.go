package main

import (
	"bytes"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Under synctest the items take fake time: the progress line is shown at
// fixed instants, and the counts it shows are exact.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, run(t.Context(), &out, 200, time.Millisecond))
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\r")
		require.GreaterOrEqual(t, len(lines), 3, "%q", out.String())
		assert.Regexp(t, `^0/200 done, \d+ in flight, 0 failed$`, lines[1], "the first line, before any item is done")
		assert.Equal(t, "200/200 done, 0 in flight, 7 failed", lines[len(lines)-1], "the last line")
		for _, l := range lines[1 : len(lines)-1] {
			// In flight: at most 8 running, 8 waiting in the queue and
			// the one Map is starting (see WithLimit).
			assert.Regexp(t, `^\d+/200 done, ([0-9]|1[0-7]) in flight, [0-7] failed$`, l)
		}
	})
}
