package nursery_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/structured-go/nursery"
)

//go:noinline
func attack14bGrow(depth int) byte {
	var buf [1024]byte
	buf[depth%len(buf)] = byte(depth)
	if depth == 0 {
		return buf[0]
	}
	return attack14bGrow(depth-1) + buf[depth%len(buf)]
}

// attack14bNoGrowth runs f in a child process in which any goroutine whose
// stack grows beyond its initial 2 KB kills the process ("goroutine stack
// exceeds 2048-byte limit"): the maximum stack is set to that size, and
// the GC is off, so that no stack shrinks. The calling goroutine grows its
// own stack first. A deterministic check, without benchmarks, that the
// goroutines f starts never copy their stacks.
func attack14bNoGrowth(t *testing.T, name string, f func()) {
	if attack14bRace {
		t.Log("not checked under -race: the race detector doubles the stack guard")
		return
	}
	if os.Getenv("ATTACK14B_STACK") == name {
		attack14bGrow(256) // 256 KB: this goroutine never grows again
		debug.SetGCPercent(-1)
		debug.SetMaxStack(2048)
		f()
		debug.SetMaxStack(1 << 30)
		return
	}
	if os.Getenv("ATTACK14B_STACK") != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ATTACK14B_STACK="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// A Spawned no-op task, the common case the change to exec was for: its
// goroutine keeps its initial stack. The nursery's Wait is called only
// once every task has finished (so no task wakes a blocked Wait).
func TestAttack14bSpawnedNoopDoesNotGrowStack(t *testing.T) {
	attack14bNoGrowth(t, "spawn", func() {
		var c nursery.Counters
		n := nursery.New(context.Background(), nursery.WithCounters(&c))
		for range 1000 {
			nursery.Spawn(n, func(context.Context) (int, error) { return 0, nil })
		}
		for c.Completed() != 1000 {
			runtime.Gosched()
		}
		if err := n.Wait(); err != nil {
			panic(err)
		}
	})
}

// The last task of a nursery whose Wait is blocked wakes it: done takes the
// nursery's mutex and closes the count's channel. That path, the one every
// nursery with a single short task takes (Run's body calls Go, then Wait
// blocks until the task returns), grows the task's stack: a stack copy per
// nursery.
//
// Failed, and was fixed: the last Spawned task of a nursery, waking a
// blocked Wait (done → mu → close(zero)), outgrew its initial 2 KB stack.
func TestAttack14bLastSpawnedTaskWakingWaitDoesNotGrowStack(t *testing.T) {
	attack14bNoGrowth(t, "spawn-wake", func() {
		for range 100 {
			n := nursery.New(context.Background())
			release := make(chan struct{})
			nursery.Spawn(n, func(context.Context) (int, error) { <-release; return 0, nil })
			go close(release) // most rounds, after the Wait below has blocked
			if err := n.Wait(); err != nil {
				panic(err)
			}
		}
	})
}

// The same for a plain Go task.
func TestAttack14bLastGoTaskWakingWaitDoesNotGrowStack(t *testing.T) {
	attack14bNoGrowth(t, "go-wake", func() {
		for range 100 {
			n := nursery.New(context.Background())
			release := make(chan struct{})
			n.Go(func(context.Context) error { <-release; return nil })
			go close(release)
			if err := n.Wait(); err != nil {
				panic(err)
			}
		}
	})
}
