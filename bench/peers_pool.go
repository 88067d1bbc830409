package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"
)

// The peer side of the pool groups (issue 4). n is the number of tasks per
// operation, k the concurrency limit ([LimitGOMAXPROCS] for GOMAXPROCS) and
// w the work of each task. A peer whose idiom is a long-lived pool (ants,
// pond) creates it once outside the loop, as the nursery-pool case does; a
// peer whose idiom is a limit per group (errgroup, conc) sets it per op, as
// the nursery-limit case does.

// ErrgroupSetLimit runs n tasks on an errgroup.Group with SetLimit(k).
func ErrgroupSetLimit(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		k, task := limit(k), w.errTask()
		for b.Loop() {
			var g errgroup.Group
			g.SetLimit(k)
			for range n {
				g.Go(task)
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// ConcPoolMaxGoroutines runs n tasks on conc's pool.New().WithMaxGoroutines(k).
func ConcPoolMaxGoroutines(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		k, task := limit(k), w.task()
		for b.Loop() {
			p := pool.New().WithMaxGoroutines(k)
			for range n {
				p.Go(task)
			}
			p.Wait()
		}
	}
}

func newAnts(b *testing.B, k int) *ants.Pool {
	p, err := ants.NewPool(k)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.ReleaseTimeout(10 * time.Second); err != nil {
			b.Error(err)
		}
	})
	return p
}

// AntsShared runs n tasks per op on one ants pool of size k, created once,
// waiting for each op's tasks with a sync.WaitGroup.
func AntsShared(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		p, task := newAnts(b, limit(k)), w.task()
		for b.Loop() {
			antsOp(b, p, n, task)
		}
	}
}

func antsOp(b *testing.B, p *ants.Pool, n int, task func()) {
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		if err := p.Submit(func() { task(); wg.Done() }); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}

func newPond(b *testing.B, k int) pond.Pool {
	p := pond.NewPool(k)
	b.Cleanup(p.StopAndWait)
	return p
}

// PondGroupShared runs n tasks per op as a pond task group on one pond pool
// of k workers, created once.
func PondGroupShared(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		p, task := newPond(b, limit(k)), w.task()
		for b.Loop() {
			pondOp(b, p, n, task)
		}
	}
}

func pondOp(b *testing.B, p pond.Pool, n int, task func()) {
	g := p.NewGroup()
	for range n {
		g.Submit(task)
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// PondPoolPerOp creates a pond pool of k workers per op, submits n tasks with
// Go and waits with StopAndWait.
func PondPoolPerOp(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		k, task := limit(k), w.task()
		for b.Loop() {
			p := pond.NewPool(k)
			for range n {
				if err := p.Go(task); err != nil {
					b.Fatal(err)
				}
			}
			p.StopAndWait()
		}
	}
}

// SemaphoreChan runs n tasks as raw goroutines (sync.WaitGroup.Go) gated
// by a buffered channel of capacity k used as a semaphore.
func SemaphoreChan(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		k, task := limit(k), w.task()
		for b.Loop() {
			sem := make(chan struct{}, k)
			semaphoreOp(sem, n, task)
		}
	}
}

func semaphoreOp(sem chan struct{}, n int, task func()) {
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Go(func() { task(); <-sem })
	}
	wg.Wait()
}

// NaiveWorkerPool starts k goroutines per op that range over an unbuffered
// channel of tasks, sends n tasks, closes the channel and waits: the pool
// everyone writes by hand, with no cancellation, errors or panics handled.
func NaiveWorkerPool(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		k, task := limit(k), w.task()
		for b.Loop() {
			ch := make(chan func())
			var wg sync.WaitGroup
			for range k {
				wg.Go(func() {
					for f := range ch {
						f()
					}
				})
			}
			for range n {
				ch <- task
			}
			close(ch)
			wg.Wait()
		}
	}
}

// shared runs groups concurrent ops of one group each and waits for all:
// the shape of the "100 nurseries sharing one pool" workload.
func shared(groups int, op func()) {
	var wg sync.WaitGroup
	for range groups {
		wg.Go(op)
	}
	wg.Wait()
}

// SharedAnts runs groups concurrent groups of per no-op tasks on one ants
// pool of size k, each group waiting on its own sync.WaitGroup.
func SharedAnts(groups, per, k int) func(b *testing.B) {
	return func(b *testing.B) {
		p, task := newAnts(b, k), NoWork.task()
		for b.Loop() {
			shared(groups, func() { antsOp(b, p, per, task) })
		}
	}
}

// SharedPond runs groups concurrent pond task groups of per no-op tasks on
// one pond pool of k workers.
func SharedPond(groups, per, k int) func(b *testing.B) {
	return func(b *testing.B) {
		p, task := newPond(b, k), NoWork.task()
		for b.Loop() {
			shared(groups, func() { pondOp(b, p, per, task) })
		}
	}
}

// SharedSemaphore runs groups concurrent groups of per no-op goroutines,
// all gated by one semaphore channel of capacity k.
func SharedSemaphore(groups, per, k int) func(b *testing.B) {
	return func(b *testing.B) {
		sem, task := make(chan struct{}, k), NoWork.task()
		for b.Loop() {
			shared(groups, func() { semaphoreOp(sem, per, task) })
		}
	}
}

// SharedNaiveWorkerPool runs groups concurrent groups of per no-op tasks
// on k long-lived goroutines fed by one channel, each group waiting on its
// own sync.WaitGroup.
func SharedNaiveWorkerPool(groups, per, k int) func(b *testing.B) {
	return func(b *testing.B) {
		ch := make(chan func(), k)
		var workers sync.WaitGroup
		for range k {
			workers.Go(func() {
				for f := range ch {
					f()
				}
			})
		}
		b.Cleanup(func() { close(ch); workers.Wait() })
		task := NoWork.task()
		for b.Loop() {
			shared(groups, func() {
				var wg sync.WaitGroup
				wg.Add(per)
				for range per {
					ch <- func() { task(); wg.Done() }
				}
				wg.Wait()
			})
		}
	}
}
