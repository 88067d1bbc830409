package supervisor_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery/supervisor"
)

// Erlang's rules for the rest of a group: a temporary sibling is stopped
// and not restarted; a transient sibling that had finished normally is
// started again with the group.
func TestGroupRestartTypes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, tmp, tr := newFake(), newFake(), newFake()
		h, err := start(t, []supervisor.Option{supervisor.OneForAll},
			supervisor.Child("a", a.serve),
			supervisor.Child("tmp", tmp.serve, supervisor.Temporary),
			supervisor.Child("tr", tr.serve, supervisor.Transient))
		require.NoError(t, err)
		tr.fail <- nil // a normal exit: not restarted
		h.rec.take()
		assert.Equal(t, supervisor.Stopped, h.sup.Children()[2].State)
		a.fail <- errBoom
		assert.Equal(t, []string{
			"exit a: boom", "exit tmp",
			"restart a", "restart tr",
			"start a", "ready a", "start tr", "ready tr",
		}, h.rec.take())
		var names []string
		for _, ci := range h.sup.Children() {
			names = append(names, ci.Name)
		}
		assert.Equal(t, []string{"a", "tr"}, names)
		require.NoError(t, h.stop())
	})
}

// A restarted child that fails before it is ready is a failure like any
// other: the strategy handles it, within the intensity.
func TestFailureBeforeReadyOnRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, c := newFake(), newFake()
		runs := 0
		b := func(ctx context.Context, ready func()) error {
			runs++
			if runs == 2 {
				return errBoom2 // the first restart fails before ready
			}
			return a.serve(ctx, ready)
		}
		h, err := start(t, []supervisor.Option{supervisor.RestForOne},
			supervisor.Child("b", b), supervisor.Child("c", c.serve))
		require.NoError(t, err)
		h.rec.take()
		a.fail <- errBoom
		assert.Equal(t, []string{
			"exit b: boom", "exit c", "restart b", "restart c",
			"start b", "exit b: boom2", "restart b", "restart c",
			"start b", "ready b", "start c", "ready c",
		}, h.rec.take())
		assert.Equal(t, 2, h.sup.Children()[0].Restarts)
		require.NoError(t, h.stop())
	})
}

// A child that does not stop within its grace when its strategy stops it
// makes the supervisor fail: restarting it would run two copies.
func TestStuckOnRestartFailsTheSupervisor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newFake()
		release := make(chan struct{})
		h, err := start(t, []supervisor.Option{supervisor.OneForAll},
			supervisor.Child("stubborn", func(ctx context.Context, ready func()) error {
				ready()
				<-release
				return nil
			}, supervisor.Grace(time.Second)),
			supervisor.Child("a", a.serve))
		require.NoError(t, err)
		h.rec.take()
		a.fail <- errBoom
		time.Sleep(time.Second)
		assert.Equal(t, []string{"exit a: boom", "stop-timeout stubborn"}, h.rec.take())
		close(release)
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, h.n.Wait(), &st)
		assert.Equal(t, "stubborn", st.Child)
	})
}

func TestAddWhileBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := newFake()
		slow.readyAfter = time.Hour
		h, err := start(t, nil, supervisor.Child("a", newFake().serve))
		require.NoError(t, err)
		added := make(chan error)
		go func() { added <- h.sup.Add(context.Background(), supervisor.Child("slow", slow.serve)) }()
		synctest.Wait()
		// The supervisor waits for slow to be ready: a second Add waits
		// behind it, and gives up when its context ends.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err = h.sup.Add(ctx, supervisor.Child("b", newFake().serve))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		time.Sleep(time.Hour)
		require.NoError(t, <-added)
		names := []string{}
		for _, ci := range h.sup.Children() {
			names = append(names, ci.Name)
		}
		assert.Equal(t, []string{"a", "slow"}, names)
		require.NoError(t, h.stop())
		require.NoError(t, h.sup.Remove(t.Context(), "a"), "stopped: Remove edits the list")
		assert.Len(t, h.sup.Children(), 1)
	})
}
