package supervisor_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
	"github.com/structured-go/nursery/supervisor"
)

var (
	errBoom  = errors.New("boom")
	errBoom2 = errors.New("boom2")
)

func TestStartInOrderStopInReverse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, c := newFake(), newFake(), newFake()
		a.readyAfter, b.readyAfter, c.readyAfter = 3*time.Second, time.Second, 2*time.Second
		t0 := time.Now()
		h, err := start(t, nil,
			supervisor.Child("a", a.serve), supervisor.Child("b", b.serve), supervisor.Child("c", c.serve))
		require.NoError(t, err)
		// Each child starts only once the previous one is ready.
		assert.Equal(t, 6*time.Second, time.Since(t0))
		assert.Equal(t, []string{"start a", "ready a", "start b", "ready b", "start c", "ready c"}, h.rec.take())
		require.NoError(t, h.stop())
		assert.Equal(t, []string{"exit c", "exit b", "exit a"}, h.rec.take())
	})
}

func TestStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy supervisor.Strategy
		want     []string
	}{
		{supervisor.OneForOne, []string{"exit b: boom", "restart b", "start b", "ready b"}},
		{supervisor.OneForAll, []string{
			"exit b: boom", "exit c", "exit a",
			"restart a", "restart b", "restart c",
			"start a", "ready a", "start b", "ready b", "start c", "ready c",
		}},
		{supervisor.RestForOne, []string{
			"exit b: boom", "exit c",
			"restart b", "restart c",
			"start b", "ready b", "start c", "ready c",
		}},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b, c := newFake(), newFake(), newFake()
				h, err := start(t, []supervisor.Option{tc.strategy},
					supervisor.Child("a", a.serve), supervisor.Child("b", b.serve), supervisor.Child("c", c.serve))
				require.NoError(t, err)
				h.rec.take()
				b.fail <- errBoom
				assert.Equal(t, tc.want, h.rec.take())
				info := h.sup.Children()
				for _, ci := range info {
					assert.Equal(t, supervisor.Running, ci.State, ci.Name)
				}
				assert.Equal(t, []error{errBoom}, info[1].Failures)
				require.NoError(t, h.stop())
			})
		})
	}
}

func TestRestartTypes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		restart   supervisor.Restart
		err       error
		restarted bool
		gone      bool
	}{
		{"permanent normal", supervisor.Permanent, nil, true, false},
		{"permanent failure", supervisor.Permanent, errBoom, true, false},
		{"transient normal", supervisor.Transient, nil, false, false},
		// context.Canceled while its context is live is not its own
		// cancellation: a failure.
		{"transient stray cancellation", supervisor.Transient, context.Canceled, true, false},
		{"transient failure", supervisor.Transient, errBoom, true, false},
		{"transient panic", supervisor.Transient, errPanic, true, false},
		{"temporary normal", supervisor.Temporary, nil, false, true},
		{"temporary failure", supervisor.Temporary, errBoom, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := newFake(), newFake()
				h, err := start(t, []supervisor.Option{supervisor.OneForAll},
					supervisor.Child("a", a.serve), supervisor.Child("b", b.serve, tc.restart))
				require.NoError(t, err)
				h.rec.take()
				b.fail <- tc.err
				lines := h.rec.take()
				require.NotEmpty(t, lines)
				assert.True(t, strings.HasPrefix(lines[0], "exit b"), lines[0])
				if tc.restarted {
					assert.Contains(t, lines, "restart a", "one-for-all restarts the sibling")
					assert.Equal(t, "ready b", lines[len(lines)-1])
				} else {
					assert.Len(t, lines, 1, "nothing else happens: %q", lines)
				}
				names := []string{}
				for _, ci := range h.sup.Children() {
					names = append(names, ci.Name)
				}
				if tc.gone {
					assert.Equal(t, []string{"a"}, names)
				} else {
					assert.Equal(t, []string{"a", "b"}, names)
				}
				require.NoError(t, h.stop())
			})
		})
	}
}

func TestPanicIsAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, nil, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		a.fail <- errPanic
		synctest.Wait()
		info := h.sup.Children()[0]
		require.Len(t, info.Failures, 1)
		var pe *nursery.PanicError
		require.ErrorAs(t, info.Failures[0], &pe)
		assert.Equal(t, "child bug", pe.Value)
		assert.Equal(t, "a", pe.Task)
		assert.Contains(t, string(pe.Stack), "supervisor_test.(*fake).serve")
		assert.Equal(t, 1, info.Restarts)
		assert.Equal(t, supervisor.Running, info.State)
		require.NoError(t, h.stop())
	})
}

func TestIntensity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newFake(), newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(2, time.Minute)},
			supervisor.Child("a", a.serve), supervisor.Child("b", b.serve))
		require.NoError(t, err)
		b.fail <- errBoom
		time.Sleep(time.Minute) // the first restart is forgotten
		b.fail <- errBoom
		b.fail <- errBoom
		synctest.Wait()
		assert.Equal(t, 3, h.sup.Children()[1].Restarts)
		h.rec.take()
		b.fail <- errBoom2 // the third restart within a minute
		assert.Equal(t, []string{"exit b: boom2", "give-up b", "exit a"}, h.rec.take())
		err = h.n.Wait()
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, err, &gu)
		assert.Equal(t, "sup", gu.Supervisor)
		assert.Equal(t, "b", gu.Child)
		assert.Equal(t, 2, gu.Restarts)
		assert.Equal(t, []error{errBoom, errBoom, errBoom, errBoom2}, gu.Failures)
		assert.ErrorIs(t, err, errBoom2)
		assert.Contains(t, err.Error(), `supervisor "sup": gave up: more than 2 restarts in 1m0s, the last of child "b": boom2`)
	})
}

func TestIntensityZeroGivesUpAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(0, time.Second)}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		a.fail <- errBoom
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, h.n.Wait(), &gu)
	})
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		name string
		rand float64
		want []string
	}{
		// Delays 0, 100ms, 200ms, 400ms, 800ms, then capped at 1s; jitter
		// takes between half and all of each.
		{"full", 1, []string{"0s", "100ms", "200ms", "400ms", "800ms", "1s", "1s"}},
		{"half", 0, []string{"0s", "50ms", "100ms", "200ms", "400ms", "500ms", "500ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newFake()
				h, err := start(t, []supervisor.Option{
					supervisor.Backoff(100*time.Millisecond, time.Second),
					supervisor.Intensity(-1, time.Minute),
					supervisor.WithRand(func() float64 { return tc.rand }),
				}, supervisor.Child("a", a.serve))
				require.NoError(t, err)
				var got []string
				for range tc.want {
					t0 := time.Now()
					a.fail <- errBoom
					synctest.Wait()
					delay := h.lastRestartDelay()
					// The restart waits exactly its delay.
					for h.sup.Children()[0].State != supervisor.Running {
						time.Sleep(time.Millisecond)
						synctest.Wait()
					}
					assert.Equal(t, delay, time.Since(t0).Truncate(time.Millisecond))
					got = append(got, delay.String())
				}
				assert.Equal(t, tc.want, got)
				// A quiet period resets the backoff.
				time.Sleep(time.Minute)
				a.fail <- errBoom
				synctest.Wait()
				assert.Equal(t, time.Duration(0), h.lastRestartDelay())
				require.NoError(t, h.stop())
			})
		})
	}
}

func (h *harness) lastRestartDelay() time.Duration {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	for i := len(h.rec.events) - 1; i >= 0; i-- {
		if e := h.rec.events[i]; e.Kind == supervisor.EventRestart {
			return e.Delay
		}
	}
	h.t.Fatal("no restart")
	return 0
}

func TestBackoffDelaysTheWholeGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newFake(), newFake()
		h, err := start(t, []supervisor.Option{
			supervisor.OneForAll,
			supervisor.Backoff(time.Second, time.Second),
			supervisor.WithRand(func() float64 { return 1 }),
		}, supervisor.Child("a", a.serve), supervisor.Child("b", b.serve))
		require.NoError(t, err)
		b.fail <- errBoom // first in a row: at once
		h.rec.take()
		b.fail <- errBoom // second in a row: 1s, for both
		assert.Equal(t, []string{"exit b: boom", "exit a", "restart a 1s", "restart b 1s"}, h.rec.take())
		for _, ci := range h.sup.Children() {
			assert.Equal(t, supervisor.Restarting, ci.State)
		}
		time.Sleep(time.Second)
		assert.Equal(t, []string{"start a", "ready a", "start b", "ready b"}, h.rec.take())
		a.fail <- errBoom // a's own first failure: at once
		assert.Equal(t, []string{"exit a: boom", "exit b", "restart a", "restart b", "start a", "ready a", "start b", "ready b"}, h.rec.take())
		require.NoError(t, h.stop())
	})
}

func TestGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, c := newFake(), newFake()
		stubborn := func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			time.Sleep(time.Minute) // ignores its cancellation
			return errBoom
		}
		h, err := start(t, nil,
			supervisor.Child("a", a.serve),
			supervisor.Child("b", stubborn, supervisor.Grace(2*time.Second)),
			supervisor.Child("c", c.serve))
		require.NoError(t, err)
		h.rec.take()
		t0 := time.Now()
		h.n.Cancel(nil)
		// c stops, b is given 2 s and reported, a stops meanwhile.
		time.Sleep(2 * time.Second)
		assert.Equal(t, []string{"exit c", "stop-timeout b", "exit a"}, h.rec.take())
		assert.Equal(t, supervisor.Stuck, h.sup.Children()[1].State)
		// Serve, and the nursery, still wait for b.
		err = h.n.Wait()
		assert.Equal(t, time.Minute, time.Since(t0))
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, err, &st)
		assert.Equal(t, "b", st.Child)
		assert.Equal(t, 2*time.Second, st.Grace)
		assert.Contains(t, err.Error(), `supervisor "sup": child "b" did not stop within its grace period of 2s (defined at supervisor/supervisor_test.go:`)
	})
}

func TestFailureWhileStoppingIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil, supervisor.Child("a", func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			return errBoom // not its cancellation
		}))
		require.NoError(t, err)
		err = h.stop()
		assert.ErrorIs(t, err, errBoom)
		assert.Contains(t, err.Error(), "sup: a: boom")
	})
}

func TestStartError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, nil,
			supervisor.Child("a", a.serve),
			supervisor.Child("b", func(context.Context, func()) error { return errBoom }),
			supervisor.Child("c", newFake().serve))
		var se *supervisor.StartError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "b", se.Child)
		assert.ErrorIs(t, err, errBoom)
		assert.Equal(t, []string{"start a", "ready a", "start b", "exit b: boom", "exit a"}, h.rec.take())
		require.NoError(t, h.n.Wait(), "Start's failure is Start's alone")
	})
}

func TestOneShot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		migrated := false
		h, err := start(t, nil,
			supervisor.Child("migrate", func(context.Context, func()) error { migrated = true; return nil }, supervisor.Transient),
			supervisor.Child("a", newFake().serve))
		require.NoError(t, err)
		assert.True(t, migrated)
		assert.Equal(t, []string{"start migrate", "exit migrate", "start a", "ready a"}, h.rec.take())
		require.NoError(t, h.stop())
	})
}

func TestDynamicChildren(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newFake(), newFake()
		h, err := start(t, []supervisor.Option{supervisor.RestForOne}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		h.rec.take()
		b.readyAfter = time.Second
		t0 := time.Now()
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("b", b.serve)))
		assert.Equal(t, time.Second, time.Since(t0), "Add returns once the child is ready")
		assert.Equal(t, []string{"start b", "ready b"}, h.rec.take())
		b.readyAfter = 0

		assert.ErrorContains(t, h.sup.Add(t.Context(), supervisor.Child("b", b.serve)), `child "b" already exists`)
		var se *supervisor.StartError
		require.ErrorAs(t, h.sup.Add(t.Context(), supervisor.Child("bad", func(context.Context, func()) error { return errBoom })), &se)
		assert.Equal(t, []string{"start bad", "exit bad: boom"}, h.rec.take())

		// The added child is last: a's failure restarts it.
		a.fail <- errBoom
		assert.Equal(t, []string{"exit a: boom", "exit b", "restart a", "restart b", "start a", "ready a", "start b", "ready b"}, h.rec.take())

		// Remove stops with grace, and no strategy runs.
		require.NoError(t, h.sup.Remove(t.Context(), "a"))
		assert.Equal(t, []string{"exit a"}, h.rec.take())
		assert.ErrorContains(t, h.sup.Remove(t.Context(), "a"), `no child "a"`)
		infos := h.sup.Children()
		require.Len(t, infos, 1)
		assert.Equal(t, "b", infos[0].Name)

		stuck := make(chan struct{})
		require.NoError(t, h.sup.Add(t.Context(), supervisor.Child("stubborn", func(ctx context.Context, ready func()) error {
			ready()
			<-stuck
			return nil
		}, supervisor.Grace(time.Second))))
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, h.sup.Remove(t.Context(), "stubborn"), &st)
		close(stuck)
		require.NoError(t, h.stop())
		assert.ErrorIs(t, h.sup.Add(t.Context(), supervisor.Child("late", b.serve)), nil, "after Serve, Add records")
	})
}

func TestFailuresAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(-1, time.Second)}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		var errs []error
		for i := range 10 {
			errs = append(errs, errors.New(strings.Repeat("x", i)))
			a.fail <- errs[i]
		}
		synctest.Wait()
		info := h.sup.Children()[0]
		assert.Equal(t, 10, info.Restarts)
		assert.Equal(t, errs[10-supervisor.MaxFailures:], info.Failures)
		require.NoError(t, h.stop())
	})
}

func TestNested(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := new(recorder)
		x, y := newFake(), newFake()
		inner := supervisor.New("inner", supervisor.Hook(rec.hook), supervisor.Logger(nil),
			supervisor.Intensity(0, time.Second))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("x", x.serve)))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("y", y.serve)))
		h, err := start(t, nil, supervisor.Child("inner", inner.Serve, supervisor.Grace(time.Minute)))
		require.NoError(t, err)
		assert.Equal(t, []string{"start x", "ready x", "start y", "ready y"}, rec.take())
		assert.Equal(t, []string{"start inner", "ready inner"}, h.rec.take())

		var tree strings.Builder
		require.NoError(t, nurserytree.Write(&tree))
		assert.Contains(t, tree.String(), "sup")
		assert.Contains(t, tree.String(), "inner")

		// inner gives up at once; its parent restarts it, and with it x and y.
		y.fail <- errBoom
		assert.Equal(t, []string{"exit y: boom", "give-up y", "exit x", "start x", "ready x", "start y", "ready y"}, rec.take())
		lines := h.rec.take()
		require.Len(t, lines, 4)
		assert.True(t, strings.HasPrefix(lines[0], `exit inner: supervisor "inner": gave up`), lines[0])
		assert.Equal(t, []string{"restart inner", "start inner", "ready inner"}, lines[1:])
		require.NoError(t, h.stop())
		assert.Equal(t, []string{"exit y", "exit x"}, rec.take())
	})
}

func TestServeTwiceAtOncePanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := start(t, nil, supervisor.Child("a", newFake().serve))
		require.NoError(t, err)
		assert.PanicsWithValue(t, "supervisor: Serve of a supervisor already serving", func() {
			_ = h.sup.Serve(t.Context(), nil)
		})
		require.NoError(t, h.stop())
	})
}

func TestLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		a := newFake()
		sup := supervisor.New("sup", supervisor.Logger(log), supervisor.Intensity(0, time.Second))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", a.serve)))
		n := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		a.fail <- errBoom
		require.Error(t, n.Wait())
		assert.Equal(t, `level=WARN msg="supervisor: exit" supervisor=sup child=a restarts=0 err=boom
level=ERROR msg="supervisor: give-up" supervisor=sup child=a restarts=0 err="supervisor \"sup\": gave up: more than 0 restarts in 1s, the last of child \"a\": boom"
`, out.String())
	})
}

func TestTree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := supervisor.New("inner", supervisor.Logger(nil))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("x", newFake().serve)))
		h, err := start(t, nil, supervisor.Child("inner", inner.Serve))
		require.NoError(t, err)
		var tree strings.Builder
		require.NoError(t, nurserytree.Write(&tree))
		assert.Contains(t, tree.String(), "  nursery \"sup\": running, 1 task [inner: running]\n    nursery \"inner\": running, 1 task [x: running]\n")
		require.NoError(t, h.stop())
	})
}

func TestGoexitStopsTheSupervisor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newFake(), make(chan struct{})
		h, err := start(t, nil,
			supervisor.Child("a", a.serve),
			supervisor.Child("b", func(_ context.Context, ready func()) error {
				ready()
				<-b
				runtime.Goexit()
				return nil
			}))
		require.NoError(t, err)
		close(b)
		err = h.n.Wait()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "runtime.Goexit")
	})
}

func TestTreeInDebugMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := supervisor.New("inner", supervisor.Logger(nil))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("x", newFake().serve)))
		sup := supervisor.New("sup", supervisor.Logger(nil))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("inner", inner.Serve)))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("y", newFake().serve)))
		n := nursery.New(t.Context(), nurserydebug.On(), nursery.WithName("main"))
		require.NoError(t, supervisor.Start(n, sup))
		var tree strings.Builder
		require.NoError(t, nurserytree.Write(&tree))
		var shape []string
		for _, line := range strings.Split(strings.TrimSpace(tree.String()), "\n") {
			shape = append(shape, line[:strings.Index(line, ":")])
		}
		assert.Equal(t, []string{
			`nursery "main"`,
			`  task "sup"`,
			`    nursery "sup"`,
			`      task "inner"`,
			`        nursery "inner"`,
			`          task "x"`,
			`      task "y"`,
		}, shape, tree.String())
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	})
}

// Remove on itself: the child waits out its own grace (Remove waits for it
// to return, and it waits for Remove), then is removed and gets a
// *StopTimeoutError, as the package documentation says.
func TestRemoveSelfWaitsOutItsGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sups := make(chan *supervisor.Supervisor, 1)
		got := make(chan error, 1)
		self := func(ctx context.Context, ready func()) error {
			ready()
			err := (<-sups).Remove(ctx, "self")
			got <- err
			return err
		}
		h, err := start(t, nil, supervisor.Child("a", idle), supervisor.Child("self", self, supervisor.Grace(time.Second)))
		require.NoError(t, err)
		sups <- h.sup
		t0 := time.Now()
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, <-got, &st)
		assert.Equal(t, "self", st.Child)
		assert.Equal(t, time.Second, time.Since(t0))
		assert.Equal(t, []string{"a"}, names(h.sup.Children()))
		require.NoError(t, h.stop())
	})
}

// A ready that panics: Serve cancels and waits for the children it
// started before the panic goes on, and the supervisor may be served again.
func TestServeReadyPanicStopsChildren(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLive()
		sup := supervisor.New("sup", supervisor.Logger(nil))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", l.wrap("a", idle))))
		v := func() (v any) {
			defer func() { v = recover() }()
			_ = sup.Serve(t.Context(), func() { panic("ready bug") })
			return nil
		}()
		assert.Equal(t, "ready bug", v)
		assert.Zero(t, l.total(), "children still run after Serve panicked")
		assert.Equal(t, supervisor.Stopped, sup.Children()[0].State)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.ErrorIs(t, sup.Serve(ctx, nil), context.Canceled, "served again")
	})
}

// A hook that panics fails the supervisor with the panic, after it has
// stopped its children.
func TestHookPanicFailsSupervisor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLive()
		hook := func(e supervisor.Event) {
			if e.Kind == supervisor.EventReady && e.Child == "b" {
				panic("hook bug")
			}
		}
		sup := supervisor.New("sup", supervisor.Logger(nil), supervisor.Hook(hook))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", l.wrap("a", idle))))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("b", l.wrap("b", idle))))
		err := sup.Serve(t.Context(), func() { t.Error("ready called") })
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "hook bug", pe.Value)
		assert.Contains(t, err.Error(), `supervisor "sup": hook panicked`)
		assert.Zero(t, l.total())
	})
}

// The live tree shows each child's state, restarts and last failure beside
// the supervisor's nursery.
func TestLiveTreeShowsChildren(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newFake(), newFake()
		sup := supervisor.New("tree-status", supervisor.Logger(nil), supervisor.Backoff(0, 0))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", a.serve)))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("b", b.serve)))
		n := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		a.fail <- errBoom
		synctest.Wait()
		var out strings.Builder
		require.NoError(t, nurserytree.Write(&out))
		var line string
		for l := range strings.Lines(out.String()) {
			if strings.Contains(l, `nursery "tree-status"`) {
				line = l
			}
		}
		require.NotEmpty(t, line, "the supervisor's nursery is in the tree:\n%s", out.String())
		assert.Contains(t, line, "[a: running, 1 restart, last: ")
		assert.Contains(t, line, "boom; b: running]")
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	})
}
