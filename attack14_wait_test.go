package nursery_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// Run's doc: "body's error counts as a task's would: if it is a failure,
// ... the error is reported among the tasks' failures". A body that waits
// for its tasks itself (n.Wait, allowed from any goroutine any number of
// times) and then returns a failure loses it: finish already ran, and the
// body's error lands in n.failed after the result was computed.
//
// Failed, and was fixed: Run returned nil when its body called n.Wait() and
// then returned an error (settleBody wrote after finish).
func TestAttack14RunBodyErrorAfterOwnWaitIsLost(t *testing.T) {
	t.Parallel()
	errBody := errors.New("body failed after waiting")
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(context.Context) error { return nil })
		require.NoError(t, n.Wait())
		return errBody
	})
	assert.ErrorIs(t, err, errBody)
}

// Another goroutine's Wait may close the count while Run's body is still
// running: the count does not cover the body. finish then reads n.failed
// without the lock while settleBody writes it under the lock — a data
// race on the claim "nothing writes failed once the count is closed".
//
// Failed, and was fixed: finish read n.failed unlocked while Run's
// settleBody wrote it (a data race under -race; both Waits returned nil,
// the body's error lost). Now the lock orders them, and Run reports the
// body's failure. The other goroutine's Wait returned before the body did,
// so its result cannot hold that failure (Run's doc says so): it is nil,
// or — if the body's error was recorded first — that same failure.
func TestAttack14RunBodyRacesConcurrentWait(t *testing.T) {
	t.Parallel()
	errBody := errors.New("body failed")
	var wg sync.WaitGroup
	var helperErr error
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		wg.Go(func() { helperErr = n.Wait() })
		// Wait until the helper's Wait has closed the count — observed
		// through Go's refusal only, which orders the close, not finish's
		// read of n.failed, before what the body does next.
		for {
			if _, refused := catchPanic(func() {
				n.Go(func(context.Context) error { return nil })
			}); refused {
				break
			}
			runtime.Gosched()
		}
		return errBody // settleBody writes n.failed, unordered with finish
	})
	wg.Wait()
	// Whatever the interleaving, Run reports the body's failure.
	assert.ErrorIs(t, err, errBody)
	if helperErr != nil {
		assert.ErrorIs(t, helperErr, errBody)
	}
}
