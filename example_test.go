package nursery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery"
)

// Run is the usual way to use a nursery: start tasks in the body; Run
// returns once every one of them has returned.
func ExampleRun() {
	var mu sync.Mutex
	var greetings []string
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		for _, name := range []string{"ann", "bob", "cid"} {
			n.Go(func(ctx context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				greetings = append(greetings, "hello "+name)
				return nil
			})
		}
		return nil
	})
	slices.Sort(greetings) // the tasks ran concurrently, in any order
	fmt.Println(greetings, err)
	// Output: [hello ann hello bob hello cid] <nil>
}

// New gives the nursery to code that calls Wait later, for example at the
// end of a longer function. Every New needs a Wait.
func ExampleNew() {
	n := nursery.New(context.Background())
	results := make([]int, 3)
	for i := range results {
		n.Go(func(ctx context.Context) error {
			results[i] = i * i
			return nil
		})
	}
	err := n.Wait() // every task's return happens before Wait returns
	fmt.Println(results, err)
	// Output: [0 1 4] <nil>
}

// A task's error cancels its siblings and is what Wait returns; the
// siblings' cancellation is not reported as an error.
func ExampleNursery_Go() {
	n := nursery.New(context.Background())
	n.Go(func(ctx context.Context) error {
		<-ctx.Done() // a long-running task, cut short by its sibling's failure
		return ctx.Err()
	})
	n.Go(func(ctx context.Context) error {
		return errors.New("disk full")
	})
	fmt.Println(n.Wait())
	// Output: disk full
}

// The nursery's context is what its tasks receive; its cause says why it was
// cancelled. Pass it to code that should stop with the nursery.
func ExampleNursery_Context() {
	errDiskFull := errors.New("disk full")
	n := nursery.New(context.Background())
	n.Go(func(ctx context.Context) error { return errDiskFull })
	<-n.Context().Done()
	fmt.Println("cause:", context.Cause(n.Context()))
	fmt.Println("Wait:", n.Wait())
	// Output:
	// cause: disk full
	// Wait: disk full
}

// Cancel stops every task. Cancelling is not failing: Wait returns nil.
func ExampleNursery_Cancel() {
	n := nursery.New(context.Background())
	stopped := make(chan error, 1)
	n.Go(func(ctx context.Context) error {
		<-ctx.Done() // serve until stopped
		stopped <- context.Cause(ctx)
		return ctx.Err()
	})
	n.Cancel(errors.New("shutting down"))
	fmt.Println("Wait:", n.Wait())
	fmt.Println("the task saw:", <-stopped)
	// Output:
	// Wait: <nil>
	// the task saw: shutting down
}

// Wait waits for tasks started by other tasks too, however late they start.
func ExampleNursery_Wait() {
	n := nursery.New(context.Background())
	var tasks atomic.Int32
	var visit func(depth int)
	visit = func(depth int) {
		n.Go(func(ctx context.Context) error {
			tasks.Add(1)
			if depth < 3 {
				visit(depth + 1) // two children per task, three levels down
				visit(depth + 1)
			}
			return nil
		})
	}
	visit(0)
	err := n.Wait()
	fmt.Println(tasks.Load(), "tasks done, Wait:", err)
	// Output: 15 tasks done, Wait: <nil>
}

// Spawn starts a task that produces a value; Task.Wait returns it.
func ExampleSpawn() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		user := nursery.Spawn(n, func(ctx context.Context) (string, error) { return "ann", nil })
		orders := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 3, nil })
		name, _ := user.Wait()
		count, _ := orders.Wait()
		fmt.Printf("%s has %d orders\n", name, count)
		return nil
	})
	fmt.Println(err)
	// Output:
	// ann has 3 orders
	// <nil>
}

// Task.Wait may be called any number of times, from any goroutine; every
// call returns the same value and error.
func ExampleTask_Wait() {
	n := nursery.New(context.Background(), nursery.CollectErrors())
	t := nursery.Spawn(n, func(ctx context.Context) (int, error) {
		return 0, errors.New("no such user")
	})
	_, err1 := t.Wait()
	_, err2 := t.Wait()
	fmt.Println(err1, "|", err2)
	fmt.Println("Wait:", n.Wait()) // the task's error still counts for the nursery
	// Output:
	// no such user | no such user
	// Wait: no such user
}

// Done is a channel, for select.
func ExampleTask_Done() {
	n := nursery.New(context.Background())
	release := make(chan struct{})
	t := nursery.Spawn(n, func(ctx context.Context) (string, error) {
		<-release
		return "report.pdf", nil
	})
	select {
	case <-t.Done():
		fmt.Println("done already?")
	default:
		fmt.Println("still running")
	}
	close(release)
	<-t.Done()
	v, err := t.Wait() // returns at once after Done
	fmt.Println(v, err, n.Wait())
	// Output:
	// still running
	// report.pdf <nil> <nil>
}

// Task.Cancel cancels one task; its siblings and the nursery go on, and the
// cancelled task is not a failure.
func ExampleTask_Cancel() {
	errNotNeeded := errors.New("not needed any more")
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		slow := nursery.Spawn(n, func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", context.Cause(ctx)
		})
		fast := nursery.Spawn(n, func(ctx context.Context) (string, error) {
			return "cached answer", nil
		})
		v, _ := fast.Wait()
		slow.Cancel(errNotNeeded)
		_, err := slow.Wait()
		fmt.Println(v, "|", err)
		return nil
	})
	fmt.Println("Run:", err)
	// Output:
	// cached answer | not needed any more
	// Run: <nil>
}

// Name returns the name given with the Name option.
func ExampleTask_Name() {
	n := nursery.New(context.Background())
	t := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 42, nil }, nursery.Name("answer"))
	v, _ := t.Wait()
	fmt.Println(t.Name(), v, n.Wait())
	// Output: answer 42 <nil>
}

// Start returns once the server is listening, with the address the kernel
// chose, so clients can connect at once: no sleep, no fixed port.
func ExampleStart() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		addr, err := nursery.Start(n, func(ctx context.Context, ready func(net.Addr)) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err // Start returns it
			}
			defer ln.Close()
			stop := context.AfterFunc(ctx, func() { ln.Close() }) // cancelling stops Accept
			defer stop()
			ready(ln.Addr())
			for {
				c, err := ln.Accept()
				if err != nil {
					return nil // closed: stopped
				}
				fmt.Fprintln(c, "hello from the server")
				c.Close()
			}
		}, nursery.Name("server"))
		if err != nil {
			return err
		}

		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			return err
		}
		defer c.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(c)
		fmt.Print(buf.String())

		n.Cancel(nil) // stop the server; Run waits for it
		return err
	})
	fmt.Println("Run:", err)
	// Output:
	// hello from the server
	// Run: <nil>
}

// Gather runs functions concurrently and returns their results in order.
func ExampleGather() {
	ctx := context.Background()
	results, err := nursery.Gather(ctx,
		func(ctx context.Context) (string, error) { return "profile", nil },
		func(ctx context.Context) (string, error) { return "orders", nil },
		func(ctx context.Context) (string, error) { return "messages", nil },
	)
	fmt.Println(results, err)

	_, err = nursery.Gather(ctx,
		func(ctx context.Context) (string, error) { return "profile", nil },
		func(ctx context.Context) (string, error) { return "", errors.New("orders service down") },
	)
	fmt.Println(err)
	// Output:
	// [profile orders messages] <nil>
	// index 1: orders service down
}

// Map calls a function on every input, at most WithLimit at once, and
// returns the results in input order.
func ExampleMap() {
	square := func(ctx context.Context, x int) (int, error) {
		if x < 0 {
			return 0, fmt.Errorf("negative input %d", x)
		}
		return x * x, nil
	}
	ctx := context.Background()
	squares, err := nursery.Map(ctx, []int{1, 2, 3, 4}, square, nursery.WithLimit(2))
	fmt.Println(squares, err)

	_, err = nursery.Map(ctx, []int{1, 2, -3, 4}, square)
	fmt.Println(err)
	// Output:
	// [1 4 9 16] <nil>
	// index 2: negative input -3
}

// First returns the first success and cancels the others.
func ExampleFirst() {
	cancelled := make(chan string, 1)
	v, err := nursery.First(context.Background(),
		func(ctx context.Context) (string, error) {
			<-ctx.Done() // a mirror that never answers
			cancelled <- "mirror 1 cancelled"
			return "", ctx.Err()
		},
		func(ctx context.Context) (string, error) {
			return "answer from mirror 2", nil
		},
	)
	fmt.Println(v, err)
	fmt.Println(<-cancelled) // First returned after every function had returned
	// Output:
	// answer from mirror 2 <nil>
	// mirror 1 cancelled
}

// AsCompleted yields tasks in the order they finish.
func ExampleAsCompleted() {
	n := nursery.New(context.Background())
	release := make(chan struct{})
	slow := nursery.Spawn(n, func(ctx context.Context) (string, error) {
		<-release // finishes only once fast has been handled
		return "slow", nil
	})
	fast := nursery.Spawn(n, func(ctx context.Context) (string, error) {
		return "fast", nil
	})
	for t := range nursery.AsCompleted(slow, fast) {
		v, _ := t.Wait()
		fmt.Println(v)
		if v == "fast" {
			close(release)
		}
	}
	fmt.Println(n.Wait())
	// Output:
	// fast
	// slow
	// <nil>
}

// FailAfter fails with ErrTimeout if fn does not finish in time.
func ExampleFailAfter() {
	err := nursery.FailAfter(context.Background(), 10*time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done() // a call that takes too long
		return ctx.Err()
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, nursery.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// timeout after 10ms: context deadline exceeded
	// true true
}

// MoveOnAfter gives up quietly: it reports that the deadline fired, with no
// error, and keeps what fn did so far.
func ExampleMoveOnAfter() {
	var got []int
	timedOut, err := nursery.MoveOnAfter(context.Background(), 10*time.Millisecond, func(ctx context.Context) error {
		for i := 1; ; i++ {
			if i > 3 {
				<-ctx.Done() // the rest is slow
				return ctx.Err()
			}
			got = append(got, i)
		}
	})
	fmt.Println(got, timedOut, err)
	// Output: [1 2 3] true <nil>
}

// Shield runs cleanup that must happen even though the context is already
// cancelled, bounded by its own deadline.
func ExampleShield() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // everything is being cancelled ...
	err := nursery.Shield(ctx, time.Second, func(ctx context.Context) error {
		// ... but this context is not: flush, close the session, etc.
		fmt.Println("cleanup sees ctx.Err() =", ctx.Err())
		return nil
	})
	fmt.Println(err)
	// Output:
	// cleanup sees ctx.Err() = <nil>
	// <nil>
}

// With WithLimit(2), at most two tasks run at once. (The barrier shows
// that two do run at once: with a limit of 1 it would never open.)
func ExampleWithLimit() {
	var mu sync.Mutex
	running, peak := 0, 0
	var barrier sync.WaitGroup
	barrier.Add(2)
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		for i := range 6 {
			// From outside the nursery's tasks, Go blocks while 2 tasks run.
			n.Go(func(ctx context.Context) error {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				if i < 2 {
					barrier.Done()
					barrier.Wait() // the first two tasks wait for each other
				}
				mu.Lock()
				running--
				mu.Unlock()
				return nil
			})
		}
		return nil
	}, nursery.WithLimit(2))
	fmt.Println("peak:", peak, err)
	// Output: peak: 2 <nil>
}

// With CollectErrors a failure does not cancel the siblings, and Wait
// returns every failure.
func ExampleCollectErrors() {
	n := nursery.New(context.Background(), nursery.CollectErrors())
	first := nursery.Spawn(n, func(ctx context.Context) (int, error) {
		return 0, errors.New("feed A: bad XML")
	})
	second := nursery.Spawn(n, func(ctx context.Context) (int, error) {
		<-first.Done() // fail after the first, to keep the output stable
		return 0, errors.New("feed C: timeout")
	})
	n.Go(func(ctx context.Context) error {
		<-first.Done()
		<-second.Done()
		fmt.Println("feed B: still running, ctx.Err() =", ctx.Err())
		return nil
	})
	fmt.Println(n.Wait())
	// Output:
	// feed B: still running, ctx.Err() = <nil>
	// feed A: bad XML
	// feed C: timeout
}

// Names of nurseries and tasks prefix their errors, so a failure deep in a
// tree says where it happened; errors.Is still finds the original error.
func ExampleWithName() {
	errRefused := errors.New("connection refused")
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			return nursery.Run(ctx, func(n *nursery.Nursery) error {
				n.Go(func(ctx context.Context) error { return errRefused }, nursery.Name("worker-3"))
				return nil
			}, nursery.WithName("pool"))
		}, nursery.Name("workers"))
		return nil
	}, nursery.WithName("server"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, errRefused))
	// Output:
	// server: workers: pool: worker-3: connection refused
	// true
}

// With PanicsAsErrors a panic comes back from Wait as a *PanicError instead
// of being re-raised.
func ExamplePanicsAsErrors() {
	n := nursery.New(context.Background(), nursery.PanicsAsErrors())
	n.Go(func(ctx context.Context) error {
		fmt.Println("newest:", newest(nil)) // a bug: no entries
		return nil
	}, nursery.Name("report"))
	err := n.Wait()
	var pe *nursery.PanicError
	if errors.As(err, &pe) {
		fmt.Printf("task %q panicked: %v\n", pe.Task, pe.Value)
	}
	// Output: task "report" panicked: runtime error: index out of range [-1]
}

func newest(entries []string) string { return entries[len(entries)-1] }

// Name names a task; the name prefixes its error.
func ExampleName() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return nil }, nursery.Name("fetch users"))
		n.Go(func(ctx context.Context) error { return errors.New("503 Service Unavailable") }, nursery.Name("fetch orders"))
		return nil
	})
	fmt.Println(err)
	// Output: fetch orders: 503 Service Unavailable
}

// Timeout gives one task a deadline; its expiry is that task's error.
func ExampleTimeout() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done() // a call that takes too long
			return ctx.Err()
		}, nursery.Name("slow query"), nursery.Timeout(10*time.Millisecond))
		return nil
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, nursery.ErrTimeout))
	// Output:
	// slow query: timeout after 10ms: context deadline exceeded
	// true
}

// By default Wait (and Run) re-panics a task's panic in the waiting
// goroutine, as a *PanicError that holds the value, the task's name and the
// stack of the goroutine that panicked.
func ExamplePanicError() {
	defer func() {
		pe := recover().(*nursery.PanicError)
		fmt.Println("task:", pe.Task)
		fmt.Println("value:", pe.Value)
		fmt.Println("stack shows the panic:", strings.Contains(string(pe.Stack), "parseAmount"))
	}()
	_ = nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			parseAmount("")
			return nil
		}, nursery.Name("import"))
		return nil
	})
	// Output:
	// task: import
	// value: empty amount
	// stack shows the panic: true
}

func parseAmount(s string) int {
	if s == "" {
		panic("empty amount")
	}
	return len(s)
}

// Every task failure Wait reports is a *TaskError. errors.As finds one;
// the joined error's Unwrap() []error lists them all.
func ExampleTaskError() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		for _, name := range []string{"a", "b"} {
			n.Go(func(context.Context) error {
				return errors.New("connection refused")
			}, nursery.Name(name))
		}
		return nil
	}, nursery.WithName("workers"), nursery.CollectErrors())

	var te *nursery.TaskError
	if errors.As(err, &te) {
		fmt.Println("a failure in nursery", te.Nursery)
	}
	var tasks []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		if errors.As(e, &te) {
			tasks = append(tasks, te.Task+": "+te.Err.Error())
		}
	}
	slices.Sort(tasks) // the tasks fail concurrently, in any order
	fmt.Println(strings.Join(tasks, "\n"))
	// Output:
	// a failure in nursery workers
	// a: connection refused
	// b: connection refused
}
