package newbieproc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery/subprocess"
)

// Found while writing these tests: under -race, every Pool.Close took ~1s
// with idle workers, because a race-enabled worker sleeps
// GORACE atexit_sleep_ms (1000 by default) before exiting. The docs do not
// say so; Env("GORACE=atexit_sleep_ms=0") makes Close prompt.
func TestCloseIsPromptWithGORACE(t *testing.T) {
	p, err := subprocess.NewPool(context.Background(), subprocess.Workers(2),
		subprocess.Env("GORACE=atexit_sleep_ms=0"))
	require.NoError(t, err)
	_, err = flaky.Call(context.Background(), p, Job{Mode: "ok"})
	require.NoError(t, err)
	s := time.Now()
	require.NoError(t, p.Close())
	assert.Less(t, time.Since(s), 500*time.Millisecond)
}
