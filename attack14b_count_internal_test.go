package nursery

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// The count word holds the count and seven flag bits. Go (CAS), task
// returns (Add), several Waits (CAS, Or), Cancel and failures (Or of the
// flags under the mutex) race on it; after Wait the count is zero, the
// closing bits are set, no flag was taken for a count or the reverse, and
// every accepted task finished exactly once — with a limiter, a Pool and
// Task.Cancel of queued tasks in the mix.
func TestAttack14bCountWordUnderRaces(t *testing.T) {
	t.Parallel()
	errFail := errors.New("fail")
	pool := NewPool(2, QueueSize(2))
	defer pool.Close()
	for round := range 400 {
		var c Counters
		opts := []Option{WithCounters(&c)}
		switch round % 4 {
		case 1:
			opts = append(opts, WithLimit(2))
		case 2:
			opts = append(opts, WithExecutor(pool))
		case 3:
			opts = append(opts, WithExecutor(pool), WithLimit(1), CollectErrors())
		}
		parent, cancelParent := context.WithCancelCause(context.Background())
		n := New(parent, opts...)
		var ran atomic.Int64
		var wg sync.WaitGroup
		var spawn func(depth int)
		spawn = func(depth int) {
			defer func() { _ = recover() }() // Go after Wait returned panics
			if depth%2 == 0 {
				n.Go(func(ctx context.Context) error {
					ran.Add(1)
					if depth < 3 {
						spawn(depth + 1)
						spawn(depth + 1)
					}
					if depth == 3 && round%5 == 0 {
						return errFail
					}
					return nil
				})
				return
			}
			task := Spawn(n, func(ctx context.Context) (int, error) {
				ran.Add(1)
				if depth < 3 {
					spawn(depth + 1)
				}
				return depth, ctx.Err()
			})
			if depth == 1 && round%3 == 0 {
				task.Cancel(nil)
			}
		}
		for range 3 {
			wg.Go(func() { spawn(0) })
		}
		switch round % 7 {
		case 0:
			wg.Go(func() { n.Cancel(nil) })
		case 1:
			wg.Go(func() { cancelParent(errFail) })
		}
		results := make([]error, 3)
		var wwg sync.WaitGroup
		for i := range results {
			wwg.Go(func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("round %d: Wait panicked: %v", round, r)
					}
				}()
				results[i] = n.Wait()
			})
		}
		wwg.Wait()
		wg.Wait() // spawners may have been refused after Wait
		for _, r := range results[1:] {
			if r != results[0] {
				t.Fatalf("round %d: Waits disagree: %v / %v", round, r, results[0])
			}
		}
		s := n.tasks.state.Load()
		if s&countMask != 0 {
			t.Fatalf("round %d: count %d after Wait (state %#x)", round, s&countMask, s)
		}
		if s&(countClosed|countFinished) != countClosed|countFinished {
			t.Fatalf("round %d: state %#x after Wait", round, s)
		}
		if c.Started() != c.Completed() {
			t.Fatalf("round %d: started %d, completed %d", round, c.Started(), c.Completed())
		}
		if uint64(ran.Load()) > c.Started() {
			t.Fatalf("round %d: %d ran, %d started", round, ran.Load(), c.Started())
		}
		cancelParent(nil)
	}
	st := pool.Stats()
	if st.Running != 0 || st.Queued != 0 {
		t.Fatalf("pool after every Wait: %+v", st)
	}
}

// The flag bits sit above the count; a count near the mask does not carry
// into them, and flags set between a load and a CAS do not lose a count.
func TestAttack14bCountMaskBoundary(t *testing.T) {
	t.Parallel()
	var c taskCount
	var mu sync.Mutex
	c.state.Store(countMask - 1)
	c.set(countSelfCancelled)
	if !c.add() {
		t.Fatal("add refused")
	}
	// The word, not count(): an int cannot hold the full mask on 32-bit
	// platforms.
	if got := c.state.Load() & countMask; got != countMask {
		t.Fatalf("count %d, want %d", got, uint64(countMask))
	}
	if c.has(countInterrupted) || !c.has(countSelfCancelled) {
		t.Fatalf("flags changed: %#x", c.state.Load())
	}
	c.state.Store(countSelfCancelled | countInterrupted | countBody | 1)
	c.done(&mu)
	if !c.idle() || c.state.Load() != countSelfCancelled|countInterrupted|countBody {
		t.Fatalf("state %#x", c.state.Load())
	}
	if !c.wait(&mu) {
		t.Fatal("wait did not close an idle count with flags set")
	}
}
