package supervisor_test

// Conformance suite: the tests of suture v4 (github.com/thejerf/suture/v4
// v4.0.6, suture_test.go, complete_test.go, suture_simple_test.go) and the
// rules of Erlang/OTP's supervisor (supervisor(3) and the cases of OTP's
// lib/stdlib/test/supervisor_SUITE.erl), translated to this package's API.
// Each test names the original. Where this package deliberately differs,
// the test encodes this package's documented contract and says why.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// Commands for failable, after suture's FailableService.
const (
	cHappy = iota
	cFail  // return nil (suture's Fail)
	cError // return errBoom
	cPanic
	cHang // hang, ignoring ctx, until release
	cFakeCancel
)

// failable is suture's FailableService as a Service: it reports each start
// on started, and obeys commands on take. Starting it twice at once fails
// the test (suture's "existing" check).
type failable struct {
	t       *testing.T
	name    string
	started chan bool
	take    chan int
	release chan bool
	stopped chan bool // buffered: a stop after cancellation

	mu       sync.Mutex
	existing int
	starts   int
}

func newFailable(t *testing.T, name string) *failable {
	return &failable{t: t, name: name, started: make(chan bool, 100), take: make(chan int),
		release: make(chan bool), stopped: make(chan bool, 100)}
}

func (f *failable) running() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.existing > 0
}

func (f *failable) serve(ctx context.Context, ready func()) error {
	f.mu.Lock()
	if f.existing != 0 {
		f.t.Errorf("%s started twice at once", f.name)
	}
	f.existing++
	f.starts++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.existing--
		f.mu.Unlock()
	}()
	ready()
	f.started <- true
	for {
		select {
		case v := <-f.take:
			switch v {
			case cFail:
				return nil
			case cError:
				return errBoom
			case cPanic:
				panic("Panic!")
			case cHang:
				<-f.release
			case cFakeCancel:
				return context.Canceled
			}
		case <-ctx.Done():
			f.stopped <- true
			return ctx.Err()
		}
	}
}

func countKind(rec *recorder, k supervisor.EventKind) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	for _, e := range rec.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------
// suture v4

// suture_test.go TestTheHappyCase: a service that returns is restarted; it
// is stopped when the supervisor's context ends. Ours: returning nil is a
// normal exit, and a Permanent child is restarted after it like suture's.
func TestSutureTheHappyCase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := supervisor.New("A", supervisor.Logger(nil))
		assert.Equal(t, "A", sup.Name()) // suture: s.String() == "A"
		svc := newFailable(t, "B")
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("B", svc.serve)))
		n := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		<-svc.started
		svc.take <- cFail
		<-svc.started
		n.Cancel(nil)
		require.NoError(t, n.Wait())
		<-svc.stopped
		assert.False(t, svc.running())
	})
}

// suture_test.go TestAddingToRunningSupervisor: Add to a running supervisor
// starts the service, and Services lists it (ours: Children).
func TestSutureAddingToRunningSupervisor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil)
		require.NoError(t, err)
		svc := newFailable(t, "B1")
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("B1", svc.serve)))
		<-svc.started
		infos := h.sup.Children()
		require.Len(t, infos, 1)
		assert.Equal(t, "B1", infos[0].Name)
		assert.Equal(t, supervisor.Running, infos[0].State)
		require.NoError(t, h.stop())
	})
}

// suture_test.go TestFailures: the failed service (and only it) is
// restarted, a panic is a failure too, failures are forgotten with time,
// and past the threshold the supervisor stops restarting.
//
// Deliberate difference: suture counts failures with exponential decay and,
// past FailureThreshold, pauses restarts for FailureBackoff while the other
// services keep running. Ours is Erlang's intensity: more than N restarts
// within the period and the supervisor gives up, stopping every child and
// returning a *GiveUpError, so that its parent (or its task's nursery)
// decides.
func TestSutureFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s1, s2 := newFailable(t, "B2"), newFailable(t, "C2")
		h, err := start(t, []supervisor.Option{supervisor.Intensity(3, 30*time.Second)},
			supervisor.Child("B2", s1.serve), supervisor.Child("C2", s2.serve))
		require.NoError(t, err)
		<-s1.started
		<-s2.started

		s1.take <- cError
		<-s1.started
		assert.Equal(t, 1, h.sup.Children()[0].Restarts)
		assert.Equal(t, 0, h.sup.Children()[1].Restarts, "only the failed service restarts")

		s2.take <- cError
		<-s2.started
		assert.Equal(t, 1, h.sup.Children()[1].Restarts)

		// 30 s later both restarts are forgotten (suture: one decay later).
		time.Sleep(30 * time.Second)
		s2.take <- cError
		<-s2.started
		s1.take <- cPanic // a panic is a failure
		<-s1.started
		synctest.Wait()
		var pe *nursery.PanicError
		require.ErrorAs(t, h.sup.Children()[0].Failures[1], &pe)
		assert.Equal(t, "Panic!", pe.Value)

		s1.take <- cError // third restart within the period: allowed
		<-s1.started
		s1.take <- cError // fourth: more than 3, give up
		err = h.n.Wait()
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, err, &gu)
		assert.Equal(t, "B2", gu.Child)
		assert.False(t, s1.running())
		assert.False(t, s2.running(), "ours stops the siblings too (suture keeps them)")
	})
}

// suture_test.go TestRunningAlreadyRunning: serving a running supervisor
// panics.
func TestSutureRunningAlreadyRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil)
		require.NoError(t, err)
		assert.Panics(t, func() { _ = h.sup.Serve(context.Background(), nil) })
		require.NoError(t, h.stop())
	})
}

// suture_test.go TestFullConstruction / TestCoverage: every option is
// accepted. Ours validates them: Intensity with a period <= 0, Backoff with
// min > max and Grace <= 0 panic.
func TestSutureFullConstruction(t *testing.T) {
	s := supervisor.New("Moo", supervisor.Hook(func(supervisor.Event) {}), supervisor.Intensity(2, time.Second),
		supervisor.Backoff(3, 4), supervisor.OneForAll, supervisor.Logger(nil))
	assert.Equal(t, "Moo", s.Name())
	assert.Panics(t, func() { supervisor.Intensity(1, 0) })
	assert.Panics(t, func() { supervisor.Backoff(2, 1) })
	assert.Panics(t, func() { supervisor.Backoff(-1, 1) })
	assert.Panics(t, func() { supervisor.Grace(0) })
	assert.Panics(t, func() { supervisor.New("x", supervisor.Strategy(7)) })
}

// suture_test.go TestNestedSupervisors: a supervisor is a service of
// another; the nested service starts, and everything stops with the top.
func TestSutureNestedSupervisors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		super2 := supervisor.New("Nested5", supervisor.Logger(nil))
		svc := newFailable(t, "Service5")
		require.NoError(t, super2.Add(t.Context(), supervisor.Child("Service5", svc.serve)))
		h, err := start(t, nil, supervisor.Child("Nested5", super2.Serve))
		require.NoError(t, err)
		<-svc.started
		svc.take <- cHappy
		require.NoError(t, h.stop())
		assert.False(t, svc.running())
	})
}

// suture_test.go TestStoppingSupervisorStopsServices: cancelling the
// supervisor stops its services. Deliberate difference: suture's Services
// returns nil after the stop; ours keeps its children (a supervisor may be
// served again and its children persist), all Stopped.
func TestSutureStoppingSupervisorStopsServices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := newFailable(t, "Service 6")
		h, err := start(t, nil, supervisor.Child("Service 6", svc.serve))
		require.NoError(t, err)
		<-svc.started
		require.NoError(t, h.stop())
		<-svc.stopped
		infos := h.sup.Children()
		require.Len(t, infos, 1)
		assert.Equal(t, supervisor.Stopped, infos[0].State)
	})
}

// suture_test.go TestStoppingStillWorksWithHungServices: a hung service is
// reported (EventStopTimeout). Deliberate difference: suture then returns
// and leaves it running; ours reports it and still waits for it, so Serve
// returns after the service is released.
func TestSutureStoppingStillWorksWithHungServices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := newFailable(t, "Service WillHang7")
		h, err := start(t, nil, supervisor.Child("Service WillHang7", svc.serve, supervisor.Grace(time.Second)))
		require.NoError(t, err)
		<-svc.started
		go func() { svc.take <- cHang }()
		synctest.Wait()
		h.n.Cancel(nil)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 1, countKind(h.rec, supervisor.EventStopTimeout))
		assert.True(t, svc.running(), "still running: a goroutine cannot be killed")
		svc.release <- true
		err = h.n.Wait()
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, err, &st)
		assert.Equal(t, "Service WillHang7", st.Child)
		assert.False(t, svc.running())
	})
}

// suture_test.go TestRemovingHungService: a hung service can be removed;
// the stop timeout is reported.
func TestSutureRemovingHungService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := newFailable(t, "Service WillHang")
		h, err := start(t, nil, supervisor.Child("hung", svc.serve, supervisor.Grace(time.Second)))
		require.NoError(t, err)
		<-svc.started
		svc.take <- cHang
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, h.sup.Remove(t.Context(), "hung"), &st)
		assert.Equal(t, 1, countKind(h.rec, supervisor.EventStopTimeout))
		assert.Empty(t, h.sup.Children())
		svc.release <- true
		require.NoError(t, h.stop())
	})
}

// suture_test.go TestRemoveService: Remove stops the service; a wrong
// token is an error (ours: an unknown name).
func TestSutureRemoveService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := newFailable(t, "ServiceToRemove8")
		h, err := start(t, nil, supervisor.Child("r", svc.serve))
		require.NoError(t, err)
		<-svc.started
		require.NoError(t, h.sup.Remove(t.Context(), "r"))
		<-svc.stopped
		assert.False(t, svc.running(), "Remove returns after the child has")
		assert.ErrorContains(t, h.sup.Remove(t.Context(), "wrong"), `no child "wrong"`)
		require.NoError(t, h.stop())
	})
}

// suture_test.go TestServiceReport: after a stop, the services that did
// not stop are reported (UnstoppedServiceReport). Ours: Children shows them
// Stuck, and Serve's error names them.
func TestSutureServiceReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := newFailable(t, "ServiceName")
		h, err := start(t, nil, supervisor.Child("ServiceName", svc.serve, supervisor.Grace(time.Millisecond)))
		require.NoError(t, err)
		<-svc.started
		svc.take <- cHang
		h.n.Cancel(nil)
		time.Sleep(time.Millisecond)
		synctest.Wait()
		infos := h.sup.Children()
		require.Len(t, infos, 1)
		assert.Equal(t, supervisor.Stuck, infos[0].State)
		svc.release <- true
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, h.n.Wait(), &st)
		assert.Equal(t, "ServiceName", st.Child)
	})
}

// suture_test.go TestFailureToConstruct, TestNilSupervisorAdd,
// TestNilSupervisorPanicsAsExpected, TestPassNoContextToSupervisor.
// Deliberate difference for the last: suture serves with a nil context as
// Background; ours panics on a nil context, like the standard library.
func TestSutureMisuse(t *testing.T) {
	var nilSup *supervisor.Supervisor
	assert.Panics(t, func() { _ = nilSup.Serve(context.Background(), nil) })
	assert.Panics(t, func() { supervisor.New("") })
	assert.Panics(t, func() { supervisor.Child("", newFake().serve) })
	assert.Panics(t, func() { supervisor.Child("x", nil) })
	s := supervisor.New("main")
	assert.Panics(t, func() { _ = s.Add(context.Background(), supervisor.Spec{}) })
	//lint:ignore SA1012 a nil context on purpose
	assert.Panics(t, func() { _ = s.Serve(nil, nil) }) //nolint:staticcheck
	//lint:ignore SA1012 a nil context on purpose
	assert.Panics(t, func() { _ = s.Add(nil, supervisor.Child("x", newFake().serve)) }) //nolint:staticcheck
}

// suture_test.go TestIssue11: adding to a nested supervisor while the tree
// runs is free of data races (run with -race).
func TestSutureIssue11(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil)
		require.NoError(t, err)
		sub := supervisor.New("sub", supervisor.Logger(nil))
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("sub", sub.Serve)))
		require.NoError(t, sub.Add(t.Context(), supervisor.Child("may cause data race", newFake().serve)))
		require.NoError(t, h.stop())
	})
}

// suture_test.go TestRemoveAndWait.
//
// Deliberate differences: removing an already-removed service is an error
// in ours (suture returns nil: its tokens stay valid); after the supervisor
// has stopped, Remove edits the (persistent) child list and returns nil
// (suture: ErrSupervisorNotRunning); and a service slower than its grace
// makes Remove return a *StopTimeoutError (suture's RemoveAndWait(token, 0)
// waits forever, ignoring Timeout).
func TestSutureRemoveAndWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil)
		require.NoError(t, err)
		svc := newFailable(t, "A1")
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("A1", svc.serve, supervisor.Grace(time.Second))))
		<-svc.started
		require.NoError(t, h.sup.Remove(t.Context(), "A1"))
		assert.Error(t, h.sup.Remove(t.Context(), "A1"))

		svc2 := newFailable(t, "A2")
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("A2", svc2.serve, supervisor.Grace(time.Millisecond))))
		<-svc2.started
		svc2.take <- cHang
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, h.sup.Remove(t.Context(), "A2"), &st)
		go func() {
			time.Sleep(10 * time.Millisecond)
			svc2.release <- true
		}()

		svc3 := newFailable(t, "A3")
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("A3", svc3.serve)))
		<-svc3.started
		require.NoError(t, h.stop())
		assert.False(t, svc2.running(), "Serve waited for the removed stuck child")
		require.NoError(t, h.sup.Remove(t.Context(), "A3"), "after Serve, Remove edits the list")
		assert.Empty(t, h.sup.Children())
	})
}

// suture_test.go TestSupervisorManagementIssue35: many nested supervisors,
// started and stopped at once, do not panic. Deliberate difference: suture
// allows 99 children named "test"; ours requires unique names (they name
// tasks and events), and Add of a duplicate is an error.
func TestSutureSupervisorManagementIssue35(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		top := supervisor.New("issue 35", supervisor.Logger(nil))
		for i := 1; i < 100; i++ {
			s2 := supervisor.New("test", supervisor.Logger(nil))
			require.NoError(t, top.Add(t.Context(), supervisor.Child(fmt.Sprint("test", i), s2.Serve)))
		}
		assert.Error(t, top.Add(t.Context(), supervisor.Child("test1", newFake().serve)))
		n := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, top))
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	})
}

// suture_test.go TestStopAfterRemoveAndWait: after a clean Remove,
// stopping the supervisor reports no stop timeout.
func TestSutureStopAfterRemoveAndWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil)
		require.NoError(t, err)
		svc := newFailable(t, "A1")
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("A1", svc.serve)))
		<-svc.started
		require.NoError(t, h.sup.Remove(t.Context(), "A1"))
		<-svc.stopped
		require.NoError(t, h.stop())
		assert.Zero(t, countKind(h.rec, supervisor.EventStopTimeout))
	})
}

// suture_test.go TestServiceAndTreeTermination: a service returning
// ErrDoNotRestart is not restarted; one returning ErrTerminateSupervisorTree
// brings the whole tree down.
//
// Ours has no magic errors: "do not restart" is a Transient child that
// exits normally (or a Temporary one), and "terminate the tree" is
// escalation through intensities — here Intensity(0) at both levels.
func TestSutureServiceAndTreeTermination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s2 := supervisor.New("TestTreeTermination2", supervisor.Logger(nil), supervisor.Intensity(0, time.Second))
		s1, s2svc, s3 := newFailable(t, "1"), newFailable(t, "2"), newFailable(t, "3")
		require.NoError(t, s2.Add(t.Context(), supervisor.Child("1", s1.serve)))
		require.NoError(t, s2.Add(t.Context(), supervisor.Child("2", s2svc.serve)))
		require.NoError(t, s2.Add(t.Context(), supervisor.Child("3", s3.serve, supervisor.Transient)))
		h, err := start(t, []supervisor.Option{supervisor.Intensity(0, time.Second)},
			supervisor.Child("TestTreeTermination2", s2.Serve))
		require.NoError(t, err)
		<-s1.started
		<-s2svc.started
		<-s3.started

		s3.take <- cFail // a normal exit of a Transient child: not restarted
		synctest.Wait()
		assert.False(t, s3.running())
		assert.Len(t, s3.started, 0)

		s1.take <- cError
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, h.n.Wait(), &gu)
		assert.Equal(t, "sup", gu.Supervisor)
		var inner *supervisor.GiveUpError
		require.ErrorAs(t, gu.Failures[len(gu.Failures)-1], &inner)
		assert.Equal(t, "TestTreeTermination2", inner.Supervisor)
		assert.Equal(t, "1", inner.Child)
		assert.False(t, s1.running() || s2svc.running() || s3.running())
	})
}

// suture_test.go TestDoNotPropagate: a subtree that terminates does not
// take its parent down. Ours: the subtree is a Temporary (or Transient)
// child: its give-up is its failure, and its parent does not restart a
// Temporary child; the parent's other children keep running.
func TestSutureDoNotPropagate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		child := supervisor.New("subtree", supervisor.Logger(nil), supervisor.Intensity(0, time.Second))
		svc1, svc2 := newFailable(t, "should keep running"), newFailable(t, "should end up terminating")
		require.NoError(t, child.Add(t.Context(), supervisor.Child("svc2", svc2.serve)))
		h, err := start(t, nil,
			supervisor.Child("subtree", child.Serve, supervisor.Temporary),
			supervisor.Child("svc1", svc1.serve))
		require.NoError(t, err)
		<-svc1.started
		<-svc2.started
		svc2.take <- cError
		synctest.Wait()
		assert.True(t, svc1.running())
		assert.False(t, svc2.running())
		infos := h.sup.Children()
		require.Len(t, infos, 1, "the temporary subtree left")
		assert.Equal(t, "svc1", infos[0].Name)
		assert.Equal(t, supervisor.Running, infos[0].State)
		require.NoError(t, h.stop())
	})
}

// suture_test.go TestShim: an old-style service that returns is
// restarted, and stops when the supervisor does.
func TestSutureShim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		doReturn := make(chan struct{})
		stopping := make(chan struct{}, 10)
		old := func(ctx context.Context, ready func()) error {
			ready()
			select {
			case <-doReturn:
				return nil
			case <-ctx.Done():
				stopping <- struct{}{}
				return nil
			}
		}
		h, err := start(t, nil, supervisor.Child("old", old))
		require.NoError(t, err)
		doReturn <- struct{}{}
		doReturn <- struct{}{}
		synctest.Wait()
		assert.Equal(t, 2, h.sup.Children()[0].Restarts)
		require.NoError(t, h.stop())
		<-stopping
	})
}

// suture_test.go TestAddAfterStopping: Add after the supervisor stopped
// returns at once. Ours records the child for the next Serve.
func TestSutureAddAfterStopping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil)
		require.NoError(t, err)
		require.NoError(t, h.stop())
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("A1", newFake().serve)))
		assert.Len(t, h.sup.Children(), 1)
	})
}

// suture_test.go TestIssue77: a service that returns context.Canceled
// while its own context has not ended has failed, and is restarted — here
// even when Transient.
func TestSutureIssue77(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := newFailable(t, "cancelling")
		h, err := start(t, nil, supervisor.Child("c", svc.serve, supervisor.Transient))
		require.NoError(t, err)
		<-svc.started
		svc.take <- cFakeCancel
		<-svc.started
		synctest.Wait()
		info := h.sup.Children()[0]
		assert.Equal(t, 1, info.Restarts)
		require.Len(t, info.Failures, 1)
		assert.ErrorIs(t, info.Failures[0], context.Canceled)
		require.NoError(t, h.stop())
	})
}

// complete_test.go TestCompleteJob: a job that is done returns
// ErrDoNotRestart. Ours: a Transient child that returns nil.
func TestSutureCompleteJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := make(chan int)
		current := 0
		job := func(ctx context.Context, ready func()) error {
			ready()
			for {
				select {
				case next <- current + 1:
					current++
					if current >= 2 {
						return nil
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		h, err := start(t, nil, supervisor.Child("job", job, supervisor.Transient))
		require.NoError(t, err)
		assert.Equal(t, 1, <-next)
		assert.Equal(t, 2, <-next)
		synctest.Wait()
		info := h.sup.Children()[0]
		assert.Equal(t, supervisor.Stopped, info.State)
		assert.Zero(t, info.Restarts)
		require.NoError(t, h.stop())
	})
}

// suture_simple_test.go ExampleNew_simple: the incrementor.
func TestSutureSimpleIncrementor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next, stop := make(chan int), make(chan bool, 1)
		cur := 0
		inc := func(ctx context.Context, ready func()) error {
			ready()
			for {
				select {
				case next <- cur:
					cur++
				case <-ctx.Done():
					stop <- true
					return nil
				}
			}
		}
		h, err := start(t, nil, supervisor.Child("inc", inc))
		require.NoError(t, err)
		assert.Equal(t, 0, <-next)
		assert.Equal(t, 1, <-next)
		require.NoError(t, h.stop())
		assert.True(t, <-stop)
	})
}

// ---------------------------------------------------------------------
// Erlang/OTP supervisor (supervisor(3); supervisor_SUITE.erl)

// supervisor_SUITE sup_start_normal / sup_start_fail / sup_start_ignore_*:
// children start in order; a child whose start fails makes the supervisor
// fail to start ({error, {shutdown, ...}}) after the started ones are
// stopped in reverse; ours: *StartError, ready never called.
func TestOTPSupStartFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := new(recorder)
		sup := supervisor.New("sup", supervisor.Hook(rec.hook), supervisor.Logger(nil))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", newFake().serve)))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("b", newFake().serve)))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("c", func(context.Context, func()) error { return errBoom })))
		readyCalled := false
		err := sup.Serve(t.Context(), func() { readyCalled = true })
		var se *supervisor.StartError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "c", se.Child)
		assert.False(t, readyCalled)
		assert.Equal(t, []string{"start a", "ready a", "start b", "ready b", "start c", "exit c: boom", "exit b", "exit a"}, rec.take())
	})
}

// supervisor_SUITE permanent_normal / permanent_abnormal /
// transient_normal / transient_abnormal / transient_shutdown /
// temporary_normal / temporary_abnormal: the restart types.
func TestOTPRestartTypes(t *testing.T) {
	for _, tc := range []struct {
		restart   supervisor.Restart
		exit      error // nil: normal
		restarted bool
		kept      bool
	}{
		{supervisor.Permanent, nil, true, true},
		{supervisor.Permanent, errBoom, true, true},
		{supervisor.Transient, nil, false, true},
		{supervisor.Transient, errBoom, true, true},
		{supervisor.Transient, errPanic, true, true},
		{supervisor.Temporary, nil, false, false},
		{supervisor.Temporary, errBoom, false, false},
	} {
		t.Run(fmt.Sprintf("%v/%v", tc.restart, tc.exit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newFake()
				h, err := start(t, nil, supervisor.Child("a", a.serve, tc.restart))
				require.NoError(t, err)
				a.fail <- tc.exit
				synctest.Wait()
				infos := h.sup.Children()
				if !tc.kept {
					assert.Empty(t, infos, "temporary children leave when they exit")
				} else {
					require.Len(t, infos, 1)
					if tc.restarted {
						assert.Equal(t, 1, infos[0].Restarts)
						assert.Equal(t, supervisor.Running, infos[0].State)
					} else {
						assert.Zero(t, infos[0].Restarts)
						assert.Equal(t, supervisor.Stopped, infos[0].State)
					}
				}
				require.NoError(t, h.stop())
			})
		})
	}
}

// supervisor_SUITE transient_shutdown: a transient child that exits with
// reason shutdown when its supervisor did not ask is ... in Erlang a normal
// exit (shutdown is a normal reason). Deliberate difference: ours treats
// only its own cancellation (ctx ended) as normal, so context.Canceled
// returned while ctx runs is a failure (suture's issue 77, above).
func TestOTPTransientOwnCancellationIsNormal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		spurious := make(chan struct{})
		tr := func(ctx context.Context, ready func()) error {
			ready()
			select {
			case <-spurious:
				return fmt.Errorf("wrapped: %w", context.Canceled)
			case <-ctx.Done():
				return fmt.Errorf("wrapped: %w", context.Cause(ctx))
			}
		}
		h, err := start(t, nil, supervisor.Child("tr", tr, supervisor.Transient))
		require.NoError(t, err)
		spurious <- struct{}{}
		synctest.Wait()
		assert.Equal(t, 1, h.sup.Children()[0].Restarts, "Canceled while ctx runs is a failure")
		err = h.stop()
		assert.NoError(t, err, "its own cancellation, wrapped, is a normal exit when stopped")
	})
}

// supervisor_SUITE one_for_one, one_for_all, rest_for_one: which children
// are restarted, stopped in reverse and started in order.
func TestOTPStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy supervisor.Strategy
		failing  string
		restarts []int
	}{
		{supervisor.OneForOne, "b", []int{0, 1, 0, 0}},
		{supervisor.OneForAll, "b", []int{1, 1, 1, 1}},
		{supervisor.RestForOne, "b", []int{0, 1, 1, 1}},
		{supervisor.RestForOne, "d", []int{0, 0, 0, 1}},
		{supervisor.RestForOne, "a", []int{1, 1, 1, 1}},
	} {
		t.Run(tc.strategy.String()+"/"+tc.failing, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fakes := map[string]*fake{}
				var specs []supervisor.Spec
				for _, n := range []string{"a", "b", "c", "d"} {
					fakes[n] = newFake()
					specs = append(specs, supervisor.Child(n, fakes[n].serve))
				}
				h, err := start(t, []supervisor.Option{tc.strategy}, specs...)
				require.NoError(t, err)
				h.rec.take()
				fakes[tc.failing].fail <- errBoom
				lines := h.rec.take()
				var got []int
				for _, ci := range h.sup.Children() {
					got = append(got, ci.Restarts)
					assert.Equal(t, supervisor.Running, ci.State)
				}
				assert.Equal(t, tc.restarts, got)
				// Stops in reverse, starts in order.
				var stops, starts []string
				for _, l := range lines {
					if len(l) > 5 && l[:5] == "exit " {
						stops = append(stops, l[5:6])
					}
					if len(l) > 6 && l[:6] == "start " {
						starts = append(starts, l[6:])
					}
				}
				// The failing child's exit comes first; the others stop
				// in reverse start order.
				require.NotEmpty(t, stops, lines)
				assert.Equal(t, tc.failing, stops[0], lines)
				for i := 2; i < len(stops); i++ {
					assert.Greater(t, stops[i-1], stops[i], lines)
				}
				for i := 1; i < len(starts); i++ {
					assert.Less(t, starts[i-1], starts[i], lines)
				}
				require.NoError(t, h.stop())
			})
		})
	}
}

// supervisor_SUITE one_for_one_escalation / one_for_all_escalation /
// rest_for_one_escalation, and supervisor(3) on intensity: with MaxR = 1,
// MaxT = 5 (Erlang's default), a second restart within 5 s terminates the
// supervisor; its children are terminated, and its parent sees its exit.
func TestOTPEscalation(t *testing.T) {
	for _, strategy := range []supervisor.Strategy{supervisor.OneForOne, supervisor.OneForAll, supervisor.RestForOne} {
		t.Run(strategy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := newFake(), newFake()
				h, err := start(t, []supervisor.Option{strategy, supervisor.Intensity(1, 5*time.Second)},
					supervisor.Child("a", a.serve), supervisor.Child("b", b.serve))
				require.NoError(t, err)
				a.fail <- errBoom
				time.Sleep(4 * time.Second)
				b.fail <- errBoom2
				var gu *supervisor.GiveUpError
				require.ErrorAs(t, h.n.Wait(), &gu)
				assert.Equal(t, "b", gu.Child)
				assert.Equal(t, 1, gu.Restarts)
				assert.Equal(t, 5*time.Second, gu.Period)
				assert.Equal(t, 1, countKind(h.rec, supervisor.EventGiveUp))
				for _, ci := range h.sup.Children() {
					assert.Equal(t, supervisor.Stopped, ci.State)
				}
			})
		})
	}
}

// supervisor(3), intensity: restarts older than the period do not count.
// With MaxR = 1, MaxT = 5, failures 5 s apart never give up.
func TestOTPIntensityWindowSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(1, 5*time.Second)}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		for range 10 {
			a.fail <- errBoom
			time.Sleep(5 * time.Second)
		}
		synctest.Wait()
		assert.Equal(t, 10, h.sup.Children()[0].Restarts)
		assert.Zero(t, countKind(h.rec, supervisor.EventGiveUp))
		require.NoError(t, h.stop())
	})
}

// supervisor_SUITE sup_flags / intensity 0: no restart allowed.
func TestOTPIntensityZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(0, time.Hour)}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		a.fail <- nil // even a normal exit of a permanent child needs a restart
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, h.n.Wait(), &gu)
		assert.Empty(t, gu.Failures)
	})
}

// supervisor_SUITE temporary/transient children do not count toward the
// intensity when they are not restarted.
func TestOTPNoRestartNoIntensity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, []supervisor.Option{supervisor.Intensity(0, time.Hour)})
		require.NoError(t, err)
		for i := range 5 {
			tmp, tr := newFake(), newFake()
			require.NoError(t, h.sup.Add(t.Context(), supervisor.Child(fmt.Sprint("tmp", i), tmp.serve, supervisor.Temporary)))
			require.NoError(t, h.sup.Add(t.Context(), supervisor.Child(fmt.Sprint("tr", i), tr.serve, supervisor.Transient)))
			tmp.fail <- errBoom
			tr.fail <- nil
		}
		synctest.Wait()
		assert.Zero(t, countKind(h.rec, supervisor.EventGiveUp))
		require.NoError(t, h.stop())
	})
}

// supervisor(3) shutdown: children are terminated in reverse start order,
// each given its shutdown time; supervisor_SUITE sup_stop_shutdown /
// sup_stop_timeout: a child that ignores shutdown past its time is killed
// (ours: reported and waited for), and the others are still stopped.
func TestOTPShutdownOrderAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var order []string
		mk := func(name string, linger time.Duration) supervisor.Service {
			return func(ctx context.Context, ready func()) error {
				ready()
				<-ctx.Done()
				time.Sleep(linger)
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return nil
			}
		}
		h, err := start(t, nil,
			supervisor.Child("a", mk("a", time.Second), supervisor.Grace(2*time.Second)),
			supervisor.Child("b", mk("b", 10*time.Second), supervisor.Grace(3*time.Second)),
			supervisor.Child("c", mk("c", 0)))
		require.NoError(t, err)
		err = h.stop()
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, err, &st)
		assert.Equal(t, "b", st.Child)
		assert.Equal(t, 3*time.Second, st.Grace)
		// c, then a (while b lingers, after b's grace), then b.
		assert.Equal(t, []string{"c", "a", "b"}, order)
	})
}

// supervisor_SUITE temporary in a group (one_for_all / rest_for_one):
// a temporary sibling is terminated with the group and not restarted.
func TestOTPTemporaryInGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, tmp, c := newFake(), newFake(), newFake()
		h, err := start(t, []supervisor.Option{supervisor.RestForOne},
			supervisor.Child("a", a.serve), supervisor.Child("tmp", tmp.serve, supervisor.Temporary), supervisor.Child("c", c.serve))
		require.NoError(t, err)
		a.fail <- errBoom
		synctest.Wait()
		var names []string
		for _, ci := range h.sup.Children() {
			names = append(names, ci.Name)
			assert.Equal(t, supervisor.Running, ci.State)
		}
		assert.Equal(t, []string{"a", "c"}, names)
		require.NoError(t, h.stop())
	})
}

// supervisor_SUITE child_adm (start_child / terminate_child / delete_child
// / which_children / count_children), already_present / already_started:
// dynamic children.
//
// Deliberate difference: Erlang's terminate_child keeps the spec for
// restart_child and delete_child removes it; ours has one Remove that does
// both.
func TestOTPChildAdm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil, supervisor.Child("a", newFake().serve))
		require.NoError(t, err)
		b := newFake()
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("b", b.serve)))
		assert.ErrorContains(t, h.sup.Add(t.Context(), supervisor.Child("b", b.serve)), "already exists")
		// start_child of a child whose init fails: {error, Reason}, not added.
		var se *supervisor.StartError
		require.ErrorAs(t, h.sup.Add(t.Context(), supervisor.Child("bad", func(context.Context, func()) error { panic("init") })), &se)
		var pe *nursery.PanicError
		assert.ErrorAs(t, se, &pe)
		infos := h.sup.Children()
		require.Len(t, infos, 2)
		assert.Equal(t, "a", infos[0].Name)
		assert.Equal(t, "b", infos[1].Name)
		require.NoError(t, h.sup.Remove(t.Context(), "b"))
		assert.ErrorContains(t, h.sup.Remove(t.Context(), "b"), "no child")
		assert.Len(t, h.sup.Children(), 1)
		// A child removed can be added again under its name.
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("b", newFake().serve)))
		require.NoError(t, h.stop())
	})
}

// supervisor_SUITE restart of a supervisor child: a nested supervisor that
// terminates (gives up) is restarted by its parent with its children.
func TestOTPNestedSupervisorRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFailable(t, "x")
		inner := supervisor.New("inner", supervisor.Logger(nil), supervisor.Intensity(0, time.Second))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("x", x.serve)))
		h, err := start(t, []supervisor.Option{supervisor.Intensity(5, time.Minute)},
			supervisor.Child("inner", inner.Serve, supervisor.Grace(time.Minute)))
		require.NoError(t, err)
		<-x.started
		x.take <- cError
		<-x.started // restarted via the parent
		synctest.Wait()
		assert.Equal(t, 1, h.sup.Children()[0].Restarts)
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, h.sup.Children()[0].Failures[0], &gu)
		assert.Equal(t, "x", gu.Child)
		assert.Equal(t, "inner", gu.Supervisor)
		require.NoError(t, h.stop())
	})
}
