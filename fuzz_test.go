package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
)

// fuzzErr is the failure of the fuzz task with the given id (returned, or
// used as a panic value).
type fuzzErr struct{ id int }

func (e *fuzzErr) Error() string { return fmt.Sprintf("fuzz task #%d failed", e.id) }

var errFuzzCancel = errors.New("fuzz: nursery cancelled")

type fuzzKind int

const (
	kOK        fuzzKind = iota
	kFail               // returns *fuzzErr
	kPanic              // panics with *fuzzErr
	kBlock              // polls its context briefly, returns the cause if cancelled
	kNested             // runs a nested nursery and returns its Wait
	kGoChild            // calls Go on its own nursery, returns nil
	kSpawnWait          // Spawns a child on its own nursery, Task.Waits it, returns nil
	kCancel             // cancels its own nursery, returns nil
	kGoexit             // calls runtime.Goexit
	numKinds
)

type fuzzTask struct {
	id     int
	kind   fuzzKind
	nested *fuzzNursery // kNested
	child  *fuzzTask    // kGoChild, kSpawnWait
}

type fuzzNursery struct {
	collect bool
	limit   int
	tasks   []*fuzzTask
}

// fuzzTree is a random tree decoded from fuzz bytes, with what it implies.
type fuzzTree struct {
	data   []byte
	pos    int
	nextID int

	root       *fuzzNursery
	failures   map[int]bool // ids of kFail and kPanic tasks
	goexits    int
	panics     int
	cancels    int
	allCollect bool
}

func (ft *fuzzTree) byte() byte {
	if ft.pos >= len(ft.data) {
		return 0
	}
	b := ft.data[ft.pos]
	ft.pos++
	return b
}

const fuzzMaxTasks = 48

func decodeFuzzTree(data []byte) *fuzzTree {
	ft := &fuzzTree{data: data, failures: map[int]bool{}, allCollect: true}
	ft.root = ft.nursery(0)
	return ft
}

func (ft *fuzzTree) nursery(depth int) *fuzzNursery {
	b := ft.byte()
	fn := &fuzzNursery{collect: b&1 == 1, limit: int(b>>1) % 4}
	if !fn.collect {
		ft.allCollect = false
	}
	count := 1 + int(ft.byte())%4
	for range count {
		if ft.nextID >= fuzzMaxTasks {
			break
		}
		fn.tasks = append(fn.tasks, ft.task(depth, true))
	}
	return fn
}

func (ft *fuzzTree) task(depth int, mayGoexit bool) *fuzzTask {
	t := &fuzzTask{id: ft.nextID}
	ft.nextID++
	t.kind = fuzzKind(int(ft.byte()) % int(numKinds))
	if depth >= 3 || ft.nextID >= fuzzMaxTasks {
		// Leaves only, below the depth limit.
		switch t.kind {
		case kNested, kGoChild, kSpawnWait:
			t.kind = kOK
		}
	}
	if t.kind == kGoexit && !mayGoexit {
		// A Goexit in a child run inline by Task.Wait would end the
		// waiter's goroutine too; keep the expected count unambiguous.
		t.kind = kFail
	}
	switch t.kind {
	case kFail:
		ft.failures[t.id] = true
	case kPanic:
		ft.failures[t.id] = true
		ft.panics++
	case kGoexit:
		ft.goexits++
	case kCancel:
		ft.cancels++
	case kNested:
		t.nested = ft.nursery(depth + 1)
	case kGoChild:
		t.child = ft.task(depth+1, true)
	case kSpawnWait:
		t.child = ft.task(depth+1, false)
	}
	return t
}

func (ft *fuzzTree) run(ctx context.Context, spec *fuzzNursery) error {
	opts := []nursery.Option{nursery.PanicsAsErrors()}
	if spec.collect {
		opts = append(opts, nursery.CollectErrors())
	}
	if spec.limit > 0 {
		opts = append(opts, nursery.WithLimit(spec.limit))
	}
	n := nursery.New(ctx, opts...)
	for _, task := range spec.tasks {
		n.Go(ft.fn(n, task))
	}
	err := n.Wait()
	if !isClosed(n.Context().Done()) {
		return errors.New("invariant: nursery context live after Wait")
	}
	return err
}

func (ft *fuzzTree) fn(n *nursery.Nursery, task *fuzzTask) func(context.Context) error {
	return func(ctx context.Context) error {
		switch task.kind {
		case kFail:
			return &fuzzErr{id: task.id}
		case kPanic:
			panic(&fuzzErr{id: task.id})
		case kBlock:
			for range 3 {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				runtime.Gosched()
			}
			return nil
		case kNested:
			return ft.run(ctx, task.nested)
		case kGoChild:
			n.Go(ft.fn(n, task.child))
			return nil
		case kSpawnWait:
			child := ft.fn(n, task.child)
			st := nursery.Spawn(n, func(ctx context.Context) (struct{}, error) {
				return struct{}{}, child(ctx)
			})
			_, _ = st.Wait() // its failure is reported by the nursery, not by us
			return nil
		case kCancel:
			n.Cancel(errFuzzCancel)
			return nil
		case kGoexit:
			runtime.Goexit()
		}
		return nil
	}
}

// checkFuzzTree runs the tree and checks the invariants.
func checkFuzzTree(t *testing.T, data []byte) {
	ft := decodeFuzzTree(data)
	before := goleak.IgnoreCurrent()

	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = ft.run(context.Background(), ft.root)
	}()
	select {
	case <-done:
	case <-time.After(deadlockTimeout):
		t.Fatalf("Wait did not return for tree %x (deadlock?)\n%s", data, allStacks())
	}

	// Every leaf of the error is one of the tree's failures, reported once.
	seen := map[int]int{}
	goexits := 0
	for _, leaf := range leaves(err) {
		var fe *fuzzErr
		switch {
		case errors.As(leaf, &fe):
			seen[fe.id]++
			if !ft.failures[fe.id] {
				t.Errorf("reported failure #%d is not a failing task of the tree", fe.id)
			}
			if seen[fe.id] > 1 {
				t.Errorf("failure #%d reported more than once in %q", fe.id, err)
			}
		case strings.Contains(strings.ToLower(leaf.Error()), "goexit"):
			goexits++
		default:
			t.Errorf("unexpected error leaf %q (%T): cancellation must never be reported here; full error: %q", leaf, leaf, err)
		}
	}
	if goexits > ft.goexits {
		t.Errorf("%d Goexit failures reported for %d Goexit tasks", goexits, ft.goexits)
	}
	failing := len(ft.failures) + ft.goexits
	switch {
	case failing == 0 && err != nil:
		t.Errorf("no task of the tree fails, yet Wait returned %q", err)
	case failing > 0 && ft.cancels == 0 && err == nil:
		t.Errorf("the tree has %d failing tasks and no Cancel, yet Wait returned nil", failing)
	}
	if ft.allCollect && ft.cancels == 0 && ft.panics == 0 && ft.goexits == 0 {
		// Nothing cancels anything (panics and Goexit may cancel siblings
		// even under CollectErrors): every failure runs and is reported.
		for id := range ft.failures {
			if seen[id] != 1 {
				t.Errorf("CollectErrors everywhere: failure #%d reported %d times in %q", id, seen[id], err)
			}
		}
		if goexits != ft.goexits {
			t.Errorf("CollectErrors everywhere: %d Goexit failures reported, want %d", goexits, ft.goexits)
		}
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines leaked by tree %x: %v", data, err)
	}
}

func FuzzTree(f *testing.F) {
	seeds := [][]byte{
		{},
		{0, 3, 0, 0, 0, 0},                   // fail-fast, four OK tasks
		{0, 3, 1, 1, 3, 3},                   // two failures and two blockers
		{1, 3, 1, 2, 8, 3},                   // CollectErrors: fail, panic, goexit, block
		{0, 2, 7, 3, 3},                      // Cancel with blockers
		{2, 3, 6, 1, 6, 0, 6, 2, 6, 3},       // WithLimit(1): Task.Wait chains
		{6, 3, 5, 5, 5, 5, 5, 5, 5, 1},       // WithLimit(3): Go from tasks
		{0, 1, 4, 1, 3, 1, 3, 4, 0, 2, 1},    // nested nurseries with failures
		{0, 2, 4, 0, 2, 7, 3, 3},             // nested nursery cancelling itself
		{3, 3, 6, 6, 6, 6, 6, 6, 6, 6, 1},    // WithLimit(1) + CollectErrors, spawn/wait
		{0, 3, 2, 4, 2, 6, 3, 6, 2, 5, 8},    // panics, nested limit, goexit via Go
		{1, 2, 4, 1, 3, 2, 8, 1, 4, 0, 1},    // CollectErrors everywhere, goexit nested
		{2, 1, 6, 6, 6, 6, 6, 1},             // deep Task.Wait chain under WithLimit(1)
		{0, 3, 7, 4, 1, 3, 3, 3, 3, 4, 1, 2}, // cancel racing with nested work
	}
	// Inputs that once failed, kept as regression seeds.
	seeds = append(seeds,
		[]byte("71b7"),          // CollectErrors + WithLimit(3): Goexit and a failure
		[]byte("G27EEEEEEEE7Y"), // WithLimit(3): Spawn+Wait chains deadlocked in Spawn
		[]byte("21:\x15\":\x157\xf4(Z\xbaX\xb3!A$2C\"$\x9d100"), // limited nested trees deadlocked in Go
	)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFuzzTree(t, data)
	})
}

// FuzzPool drives interleavings of direct submissions, nursery tasks,
// cancellations and Close on one shared pool.
func FuzzPool(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 2, 3, 4, 0})
	f.Add([]byte{0, 2, 2, 2, 2, 2, 5, 2, 2})
	f.Add([]byte{2, 3, 1, 1, 1, 4, 1, 5, 0, 0})
	f.Add([]byte{3, 1, 3, 3, 3, 3, 4, 3, 3, 5})
	// Once deadlocked: a task calling Go on its own nursery blocked while
	// the pool under it was closing.
	f.Add([]byte("z2\xb3\xb4iiii\xb4\xb4097VA"))
	f.Fuzz(checkPoolOps)
}

// Regression inputs once found by the fuzzers, replayed many times: the
// bugs they found were timing-dependent.
func TestFuzzRegressionsReplayed(t *testing.T) {
	reps := 200
	if testing.Short() {
		reps = 20
	}
	for _, tc := range []struct {
		name  string
		check func(*testing.T, []byte)
		data  []byte
	}{
		{"tree: limit 3, Spawn+Wait chains", checkFuzzTree, []byte("G27EEEEEEEE7Y")},
		{"tree: nested limited nurseries", checkFuzzTree, []byte("21:\x15\":\x157\xf4(Z\xbaX\xb3!A$2C\"$\x9d100")},
		{"pool: Go from a task while closing", checkPoolOps, []byte("z2\xb3\xb4iiii\xb4\xb4097VA")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range reps {
				tc.check(t, tc.data)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func checkPoolOps(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	before := goleak.IgnoreCurrent()
	p := nursery.NewPool(1+int(data[0])%3, nursery.QueueSize(1+int(data[0]>>2)%3))
	ns := []*nursery.Nursery{
		nursery.New(context.Background(), nursery.WithExecutor(p), nursery.PanicsAsErrors()),
		nursery.New(context.Background(), nursery.WithExecutor(p), nursery.PanicsAsErrors(), nursery.WithLimit(1)),
	}
	var accepted, ran atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var errs []string
	report := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var wg sync.WaitGroup
		closed := false
		for i, op := range data[1:] {
			n := ns[i%len(ns)]
			switch op % 6 {
			case 0: // direct submission from another goroutine
				wg.Go(func() {
					if p.Go(ctx, func() { ran.Add(1) }) == nil {
						accepted.Add(1)
					}
				})
			case 1:
				n.Go(noop)
			case 2:
				n.Go(func(ctx context.Context) error {
					n.Go(blockOnCtxOrSoon)
					return nil
				})
			case 3:
				n.Go(func(ctx context.Context) error {
					_, err := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 1, nil }).Wait()
					if err != nil && !errors.Is(err, nursery.ErrPoolClosed) && ctx.Err() == nil {
						return fmt.Errorf("child failed: %w", err)
					}
					return nil
				})
			case 4:
				n.Cancel(errStop)
				if op%12 == 10 {
					cancel()
				}
			case 5:
				if !closed {
					closed = true
					wg.Go(func() {
						if err := p.Close(); err != nil {
							report("Close: %v", err)
						}
					})
				}
			}
		}
		for _, n := range ns {
			err := n.Wait()
			for _, leaf := range leaves(err) {
				if leaf != nursery.ErrPoolClosed {
					report("unexpected error leaf %q (%T) in %q", leaf, leaf, err)
				}
			}
		}
		wg.Wait()
		if err := p.Close(); err != nil && !closed {
			report("Close: %v", err)
		}
	}()
	select {
	case <-finished:
	case <-time.After(deadlockTimeout):
		t.Fatalf("submissions and Waits did not finish for %x (deadlock?)\n%s", data, allStacks())
	}
	for _, e := range errs {
		t.Error(e)
	}
	if a, r := accepted.Load(), ran.Load(); a != r {
		t.Errorf("%d tasks accepted by Pool.Go, %d ran", a, r)
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines leaked: %v", err)
	}
}
