package newbieproc

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

type Info struct {
	Pid        int
	Procs      int
	EnvProcs   string
	EnvProcsOK bool
}

var info = subprocess.Register("newbie.info", func(ctx context.Context, _ int) (Info, error) {
	v, ok := os.LookupEnv("GOMAXPROCS")
	return Info{Pid: os.Getpid(), Procs: runtime.GOMAXPROCS(0), EnvProcs: v, EnvProcsOK: ok}, nil
})

var echoBytes = subprocess.Register("newbie.echoBytes", func(ctx context.Context, b []byte) ([]byte, error) {
	return b, nil
})

// Secret is registered with gob only in the parent (workers get
// NEWBIE_WORKER=1 through Env), to provoke the documented decode failure.
type Secret struct{ S string }

type Box struct{ V any }

func init() {
	if os.Getenv("NEWBIE_WORKER") == "" {
		gob.Register(Secret{})
	}
}

var unbox = subprocess.Register("newbie.unbox", func(ctx context.Context, b Box) (string, error) {
	return "got it", nil
})

// "MaxTasksPerWorker retires a worker after it has been given k calls"
func TestMaxTasksPerWorker(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1), subprocess.MaxTasksPerWorker(2))
	pids := map[int]int{}
	for range 6 {
		in, err := info.Call(context.Background(), pool, 0)
		require.NoError(t, err)
		pids[in.Pid]++
	}
	assert.Len(t, pids, 3)
	for _, c := range pids {
		assert.Equal(t, 2, c)
	}
}

// "Each worker runs with GOMAXPROCS set to the parent's GOMAXPROCS divided by
// n (at least 1)... programs that its functions start do not inherit it (they
// get the parent's environment, with GOMAXPROCS only if the parent's has it)"
func TestWorkersGOMAXPROCS(t *testing.T) {
	_, parentHas := os.LookupEnv("GOMAXPROCS")
	n := 2
	pool := newPool(t, subprocess.Workers(n))
	in, err := info.Call(context.Background(), pool, 0)
	require.NoError(t, err)
	assert.Equal(t, max(1, runtime.GOMAXPROCS(0)/n), in.Procs)
	assert.Equal(t, parentHas, in.EnvProcsOK, "worker's os environment GOMAXPROCS=%q", in.EnvProcs)
}

// Values above 1 MiB travel and come back intact; the pool keeps serving.
func TestLargeValues(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1))
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	got, err := echoBytes.Call(context.Background(), pool, big)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(big, got))

	// Cancelled while its large input is being sent: returns the cause.
	cause := errors.New("too slow")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	_, err = echoBytes.Call(ctx, pool, big)
	assert.ErrorIs(t, err, cause)

	got, err = echoBytes.Call(context.Background(), pool, []byte("small"))
	require.NoError(t, err)
	assert.Equal(t, "small", string(got))
}

// "A value that the other process cannot decode, typically because a type
// inside an interface was registered with gob.Register in one process only,
// fails only its call, with gob's error naming the type; the worker keeps
// serving."
func TestUndecodableInInterface(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1), subprocess.Env("NEWBIE_WORKER=1"))
	before, err := info.Call(context.Background(), pool, 0)
	require.NoError(t, err)

	_, err = unbox.Call(context.Background(), pool, Box{V: Secret{"x"}})
	require.Error(t, err)
	t.Logf("undecodable: %v", err)
	assert.Contains(t, err.Error(), "Secret")
	var ce *subprocess.CrashError
	assert.False(t, errors.As(err, &ce), "not a crash")

	after, err := info.Call(context.Background(), pool, 0)
	require.NoError(t, err)
	assert.Equal(t, before.Pid, after.Pid, "the worker keeps serving")
	s, err := unbox.Call(context.Background(), pool, Box{V: 5})
	require.NoError(t, err)
	assert.Equal(t, "got it", s)
}

// "The task is named after the function unless opts name it."
func TestSpawnTaskName(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1))
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		flaky.Spawn(n, pool, Job{Mode: "error", N: 1})
		return nil
	}, nursery.WithName("jobs"))
	var te *nursery.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "newbie.flaky", te.Task)
	assert.Equal(t, "jobs", te.Nursery)
	assert.ErrorIs(t, err, ErrQuota)

	var pe *nursery.PanicError
	err = nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		flaky.Spawn(n, pool, Job{Mode: "panic", N: 1})
		return nil
	}, nursery.PanicsAsErrors())
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "newbie.flaky", pe.Task)

	// Without PanicsAsErrors, Wait re-panics with it.
	func() {
		defer func() {
			r := recover()
			p, ok := r.(*nursery.PanicError)
			if assert.True(t, ok, "recovered %T %v", r, r) {
				assert.Equal(t, "newbie.flaky", p.Task)
			}
		}()
		_ = nursery.Run(context.Background(), func(n *nursery.Nursery) error {
			flaky.Spawn(n, pool, Job{Mode: "panic", N: 1})
			return nil
		})
	}()
}
