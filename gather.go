package nursery

import (
	"context"
	"errors"
	"iter"
	"sync"
	"sync/atomic"
)

// Gather runs every fn concurrently in a new nursery and returns their
// results in input order — asyncio.gather. The first failure cancels the
// others, and the error names the failed function's index ("index 2: ...").
// On failure, the results of functions that succeeded are still filled in.
// Gather returns only after every function has returned; a panic in one is
// re-raised in the caller, as [Nursery.Wait] does.
func Gather[T any](ctx context.Context, fns ...func(context.Context) (T, error)) ([]T, error) {
	for _, fn := range fns {
		if fn == nil {
			panic("nursery: nil function")
		}
	}
	out := make([]T, len(fns))
	err := Run(ctx, func(n *Nursery) error {
		for i, fn := range fns {
			n.Go(func(ctx context.Context) error {
				v, err := fn(ctx)
				if err != nil {
					return &indexed{index: i, err: err}
				}
				out[i] = v
				return nil
			})
		}
		return nil
	})
	return out, err
}

// Map calls fn on every element of in concurrently, in a nursery configured
// by opts (for example [WithLimit] to bound concurrency), and returns the
// results in input order. The first failure cancels the rest and the error
// names the failed input's index; with [CollectErrors] every input runs,
// the results that succeeded are filled in, and all errors are joined.
// Map returns only after every call has returned.
func Map[In, Out any](ctx context.Context, in []In, fn func(context.Context, In) (Out, error), opts ...Option) ([]Out, error) {
	if fn == nil {
		panic("nursery: nil function")
	}
	out := make([]Out, len(in))
	err := Run(ctx, func(n *Nursery) error {
		for i := range in {
			n.Go(func(ctx context.Context) error {
				v, err := fn(ctx, in[i])
				if err != nil {
					return &indexed{index: i, err: err}
				}
				out[i] = v
				return nil
			})
		}
		return nil
	}, opts...)
	return out, err
}

// errFirstWon cancels First's other functions once one has succeeded.
var errFirstWon = errors.New("nursery: First: another function succeeded")

// errNoFunctions is First's error when it is given nothing to run.
var errNoFunctions = errors.New("nursery: First needs at least one function")

// First runs every fn concurrently and returns the first success,
// cancelling the others — happy eyeballs. If all fail, it returns all their
// errors joined, each naming its index. First returns only after every
// function has returned. With no functions it returns an error at once.
//
// The value of a function that succeeds after another has won is
// discarded. When values hold resources (connections, files), First cannot
// close them for you: record the winner yourself and release the others'
// values in the functions, as examples/eyeballs does.
func First[T any](ctx context.Context, fns ...func(context.Context) (T, error)) (T, error) {
	var zero T
	if len(fns) == 0 {
		return zero, errNoFunctions
	}
	for _, fn := range fns {
		if fn == nil {
			panic("nursery: nil function")
		}
	}
	var (
		won    atomic.Bool
		result T
		errs   = make([]error, len(fns))
	)
	n := New(ctx, CollectErrors())
	for i, fn := range fns {
		n.Go(func(ctx context.Context) error {
			v, err := fn(ctx)
			if err != nil {
				errs[i] = &TaskError{Index: i, Err: err}
				return nil
			}
			if won.CompareAndSwap(false, true) {
				result = v
				n.Cancel(errFirstWon)
			}
			return nil
		})
	}
	werr := n.Wait()
	if won.Load() {
		return result, nil
	}
	var all []error
	for _, err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	if werr != nil {
		all = append(all, werr)
	}
	return zero, join(all)
}

// AsCompleted yields the given tasks as they finish: first those that had
// already finished when iteration began (in any order among them), then the
// others in the order they finish. A task blocked waiting for the next one
// gives its slot back meanwhile (see [WithLimit]).
//
// Stopping the iteration early stops only the iteration: it leaves no
// goroutine of its own behind, but the tasks not yet yielded go on running,
// and their nursery still waits for them. Cancel those you no longer need
// with [Task.Cancel].
func AsCompleted[T any](tasks ...*Task[T]) iter.Seq[*Task[T]] {
	for _, t := range tasks {
		if t == nil {
			panic("nursery: nil Task")
		}
	}
	return func(yield func(*Task[T]) bool) {
		var finished, pending []*Task[T]
		for _, t := range tasks {
			if t.state.Load() == taskDone {
				finished = append(finished, t)
			} else {
				pending = append(pending, t)
			}
		}
		for _, t := range finished {
			if !yield(t) {
				return
			}
		}
		if len(pending) == 0 {
			return
		}
		ready := make(chan *Task[T], len(pending))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer func() {
			close(stop)
			wg.Wait()
		}()
		for _, t := range pending {
			wg.Go(func() {
				select {
				case <-t.Done():
					ready <- t
				case <-stop:
				}
			})
		}
		for range pending {
			var t *Task[T]
			select {
			case t = <-ready:
			default:
				// One of the library's waits (see Task.Wait).
				c := block()
				t = <-ready
				c.unblock()
			}
			if !yield(t) {
				return
			}
		}
	}
}
