package nursery_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// heldParent is a Context of its own (not package context's) with an
// AfterFunc method, so that the test decides when its cancellation reaches
// the nursery: cancel makes it done at once, deliver runs the AfterFuncs
// that package context registered for its children.
type heldParent struct {
	mu    sync.Mutex
	done  chan struct{}
	err   error
	funcs []func()
}

func newHeldParent() *heldParent { return &heldParent{done: make(chan struct{})} }

func (p *heldParent) Deadline() (time.Time, bool) { return time.Time{}, false }
func (p *heldParent) Done() <-chan struct{}       { return p.done }
func (p *heldParent) Value(any) any               { return nil }
func (p *heldParent) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *heldParent) AfterFunc(f func()) func() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := len(p.funcs)
	p.funcs = append(p.funcs, f)
	return func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.funcs[i] == nil {
			return false
		}
		p.funcs[i] = nil
		return true
	}
}

func (p *heldParent) cancel(err error) {
	p.mu.Lock()
	p.err = err
	close(p.done)
	p.mu.Unlock()
}

func (p *heldParent) deliver() {
	p.mu.Lock()
	fs := p.funcs
	p.funcs = make([]func(), len(fs))
	p.mu.Unlock()
	for _, f := range fs {
		if f != nil {
			f()
		}
	}
}

// The nursery decides "my parent cancelled me" from its own context alone.
// With a parent whose cancellation reaches the nursery late, check Wait's
// exact result under each ordering of the parent's cancellation, its
// delivery, Cancel and a task's failure.
func TestAttack14bParentCancelledLate(t *testing.T) {
	t.Parallel()
	errParentGone := errors.New("parent gone") // the custom parent's Err, hence its cause
	errTask := errors.New("task failed")
	errSelf := errors.New("cancelled by its owner")
	passOn := func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) }
	tests := []struct {
		name string
		run  func(p *heldParent, n *nursery.Nursery)
		want []error // exactly these leaves, in order
	}{
		{
			name: "cancelled and delivered: the interrupted task reports the parent's cause",
			run: func(p *heldParent, n *nursery.Nursery) {
				n.Go(passOn)
				p.cancel(errParentGone)
				p.deliver()
			},
			want: []error{errParentGone},
		},
		{
			name: "a failure before delivery is the nursery's own cancellation",
			run: func(p *heldParent, n *nursery.Nursery) {
				n.Go(passOn)
				p.cancel(errParentGone)
				n.Go(func(context.Context) error { return errTask })
				<-n.Context().Done()
				p.deliver()
			},
			want: []error{errTask},
		},
		{
			name: "Cancel before delivery",
			run: func(p *heldParent, n *nursery.Nursery) {
				n.Go(passOn)
				p.cancel(errParentGone)
				n.Cancel(errSelf)
				p.deliver()
			},
		},
		{
			name: "a failure after delivery comes first, the parent's cause once at the end",
			run: func(p *heldParent, n *nursery.Nursery) {
				n.Go(passOn)
				n.Go(passOn)
				n.Go(func(ctx context.Context) error { <-ctx.Done(); return errTask })
				p.cancel(errParentGone)
				p.deliver()
			},
			want: []error{errTask, errParentGone},
		},
		{
			name: "Cancel after delivery changes nothing",
			run: func(p *heldParent, n *nursery.Nursery) {
				n.Go(passOn)
				p.cancel(errParentGone)
				p.deliver()
				n.Cancel(errSelf)
			},
			want: []error{errParentGone},
		},
		{
			name: "a task that never started after delivery",
			run: func(p *heldParent, n *nursery.Nursery) {
				p.cancel(errParentGone)
				p.deliver()
				nursery.Spawn(n, func(context.Context) (int, error) { return 0, nil })
			},
			want: []error{errParentGone},
		},
		{
			name: "cancelled, not yet delivered, when Wait is called with nothing to interrupt",
			run: func(p *heldParent, n *nursery.Nursery) {
				p.cancel(errParentGone)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 200 {
				p := newHeldParent()
				n := nursery.New(p)
				tt.run(p, n)
				err := n.Wait()
				if tt.want == nil {
					require.NoError(t, err)
					continue
				}
				require.Equal(t, tt.want, leaves(err))
				if len(tt.want) == 1 {
					require.Equal(t, tt.want[0], err, "a single failure is returned as it is")
				}
			}
		})
	}
}

// A parent with a deadline: its end reaches the tasks as
// context.DeadlineExceeded, reported once, named by the nursery; a failure
// after it comes first.
func TestAttack14bParentDeadline(t *testing.T) {
	t.Parallel()
	errTask := errors.New("task failed")
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := nursery.Run(parent, func(n *nursery.Nursery) error {
			for range 3 {
				n.Go(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
			}
			n.Go(func(ctx context.Context) error { <-ctx.Done(); time.Sleep(time.Millisecond); return errTask })
			<-n.Context().Done()
			return n.Context().Err() // the body passes it on too
		}, nursery.WithName("scope"))
		var te *nursery.TaskError
		require.ErrorAs(t, err, &te)
		ls := leaves(err)
		require.Len(t, ls, 2, "%v", err)
		assert.Equal(t, errTask, ls[0])
		assert.Equal(t, context.DeadlineExceeded, ls[1])
		var last *nursery.TaskError
		require.ErrorAs(t, err.(interface{ Unwrap() []error }).Unwrap()[1], &last)
		assert.Equal(t, "scope", last.Nursery)
		assert.Equal(t, "", last.Task)
	})
}

// Parent cancelled with a cause, then the nursery's body fails after its
// own Wait: Run reports both, the parent's cause once.
func TestAttack14bParentCauseThenBodyFailureAfterWait(t *testing.T) {
	t.Parallel()
	errParent := errors.New("parent")
	errBody := errors.New("body")
	parent, cancel := context.WithCancelCause(t.Context())
	err := nursery.Run(parent, func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) })
		cancel(errParent)
		first := n.Wait()
		require.Equal(t, errParent, first)
		require.Equal(t, first, n.Wait(), "every Wait returns the same")
		return errBody
	})
	assert.Equal(t, []error{errParent, errBody}, leaves(err))
}
