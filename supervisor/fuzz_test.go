package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// FuzzSupervisor builds a random supervision tree — a root supervisor
// whose children are scripted services or nested supervisors of their own
// — lets the children fail, panic, exit and stop at random for a second of
// fake time, then stops the tree, and checks the invariants:
//
//   - starts are sequential: a supervisor never starts a child while
//     another of its children is starting;
//   - a first start happens in the order the children were added;
//   - intensity: no supervisor restarts more than its intensity within its
//     period, and it gives up only when one more restart would exceed it;
//   - no failure is lost: every error a child returned and every panic
//     reached an exit event of its supervisor;
//   - nothing leaks: Wait returns, the synctest bubble ends with no
//     goroutine left, and goleak checks the process at the end.
func FuzzSupervisor(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x21, 0x41, 0x61, 0x22, 0x42, 0x62, 0x23, 0x43, 0x63, 0x01, 0x02, 0x03})
	f.Add([]byte{1, 4, 2, 9, 0x80, 0xa1, 0xff, 0x33, 0x27, 0x29, 0x2a, 0x2b, 0x45, 0x47, 0x66, 0x12, 0x99})
	f.Add([]byte{2, 3, 0xc0, 0x24, 0x44, 0x64, 0x24, 0x44, 0x64, 0x24, 0x44, 0x64, 0x3c, 0x5c, 0x7c})
	f.Fuzz(func(t *testing.T, data []byte) {
		synctest.Test(t, func(t *testing.T) {
			fz := &fuzzer{data: data, failures: map[any]bool{}, seen: map[any]bool{}}
			root := fz.supervisor("root", 0)
			n := nursery.New(t.Context(), nursery.PanicsAsErrors())
			_ = supervisor.Start(n, root)
			time.Sleep(time.Second)
			n.Cancel(nil)
			err := n.Wait()
			if err != nil && !fz.known(err) {
				t.Errorf("unexpected error from Wait: %v", err)
			}
			fz.check(t)
		})
	})
}

type fuzzer struct {
	data []byte
	pos  int
	id   int

	mu       sync.Mutex
	failures map[any]bool // what children returned or panicked with
	seen     map[any]bool // what exit events carried
	sups     []*fuzzSup
	log      []fuzzEvent // every supervisor's events, in one order
}

type fuzzEvent struct {
	sup *fuzzSup
	e   supervisor.Event
}

type fuzzSup struct {
	name      string
	children  []string
	intensity int
	period    time.Duration

	// check's state
	starting    string
	firstStarts int
	started     map[string]bool
	decisions   []time.Time
}

func (fz *fuzzer) byte() byte {
	if len(fz.data) == 0 {
		return 0
	}
	b := fz.data[fz.pos%len(fz.data)]
	fz.pos++
	return b
}

func (fz *fuzzer) supervisor(name string, depth int) *supervisor.Supervisor {
	b := fz.byte()
	fs := &fuzzSup{
		name:      name,
		intensity: int(b>>2) % 6,
		period:    time.Duration(1+b>>5) * 50 * time.Millisecond,
	}
	fz.sups = append(fz.sups, fs)
	r := float64(fz.byte()) / 256
	sup := supervisor.New(name,
		supervisor.Strategy(b%3),
		supervisor.Intensity(fs.intensity, fs.period),
		supervisor.Backoff(time.Duration(b%4)*time.Millisecond, 20*time.Millisecond),
		supervisor.WithRand(func() float64 { return r }),
		supervisor.Logger(nil),
		supervisor.Hook(func(e supervisor.Event) {
			fz.mu.Lock()
			defer fz.mu.Unlock()
			fz.log = append(fz.log, fuzzEvent{fs, e})
			if e.Kind == supervisor.EventExit && e.Err != nil {
				fz.seen[key(e.Err)] = true
			}
		}))
	nChildren := 1 + int(fz.byte())%4
	for i := range nChildren {
		cb := fz.byte()
		child := fmt.Sprintf("%s.c%d", name, i)
		fs.children = append(fs.children, child)
		restart := supervisor.Restart(cb % 3)
		var spec supervisor.Spec
		if depth == 0 && cb&0x80 != 0 {
			spec = supervisor.Child(child, fz.supervisor(child, depth+1).Serve, restart, supervisor.Grace(time.Hour))
		} else {
			script := []byte{fz.byte(), fz.byte(), fz.byte()}
			spec = supervisor.Child(child, fz.service(script), restart, supervisor.Grace(time.Hour))
		}
		if err := sup.Add(context.Background(), spec); err != nil {
			panic(err)
		}
	}
	return sup
}

// key identifies a failure: the error, or the value of a panic.
func key(err error) any {
	if pe, ok := errors.AsType[*nursery.PanicError](err); ok {
		return pe.Value
	}
	var gu *supervisor.GiveUpError
	if errors.As(err, &gu) {
		return gu.Supervisor // a nested supervisor gave up: not a leaf failure
	}
	return err
}

// service returns a scripted child: incarnation i follows script[i%3]:
// bits 0-1 the delay before ready (ms), bit 7 no ready at all, bits 2-4 a
// lifetime (×10 ms), bits 5-6 the outcome: run until cancelled, return an
// error, panic, or return nil.
func (fz *fuzzer) service(script []byte) supervisor.Service {
	inc := 0
	var mu sync.Mutex
	return func(ctx context.Context, ready func()) error {
		mu.Lock()
		b := script[inc%len(script)]
		inc++
		mu.Unlock()
		sleep := func(d time.Duration) bool {
			select {
			case <-time.After(d):
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !sleep(time.Duration(b&3) * time.Millisecond) {
			return ctx.Err()
		}
		if b&0x80 == 0 {
			ready()
		}
		if !sleep(time.Duration((b>>2)&7) * 10 * time.Millisecond) {
			return ctx.Err()
		}
		fz.mu.Lock()
		fz.id++
		id := fz.id
		fz.mu.Unlock()
		outcome := (b >> 5) & 3
		if outcome == 0 && b&0x80 != 0 {
			outcome = 3 // never ready and never returning would hold up its supervisor's start forever
		}
		switch outcome {
		case 0:
			<-ctx.Done()
			return ctx.Err()
		case 1:
			err := fmt.Errorf("failure %d", id)
			fz.fail(err)
			return err
		case 2:
			v := fmt.Sprintf("panic %d", id)
			fz.fail(v)
			panic(v)
		}
		return nil
	}
}

func (fz *fuzzer) fail(k any) {
	fz.mu.Lock()
	defer fz.mu.Unlock()
	fz.failures[k] = true
}

// known reports whether err is made of the errors a supervisor returns:
// its own typed errors, and failures children returned or panicked with,
// wrapped in names.
func (fz *fuzzer) known(err error) bool {
	switch e := err.(type) {
	case *supervisor.GiveUpError, *supervisor.StartError:
		return true
	case *nursery.PanicError:
		return fz.failures[e.Value]
	case interface{ Unwrap() []error }:
		for _, e := range e.Unwrap() {
			if !fz.known(e) {
				return false
			}
		}
		return true
	case interface{ Unwrap() error }:
		if fz.failures[err] {
			return true
		}
		return fz.known(e.Unwrap())
	}
	return fz.failures[err]
}

func (fz *fuzzer) check(t *testing.T) {
	fz.mu.Lock()
	defer fz.mu.Unlock()
	for k := range fz.failures {
		if !fz.seen[k] {
			t.Errorf("failure %v lost: no exit event carried it", k)
		}
	}
	byName := map[string]*fuzzSup{}
	for _, fs := range fz.sups {
		byName[fs.name] = fs
		fs.started = map[string]bool{}
	}
	for _, fe := range fz.log {
		if nested := byName[fe.e.Child]; nested != nil && fe.e.Kind == supervisor.EventStart {
			// The parent serves a nested supervisor again: its restart
			// count starts over.
			nested.decisions, nested.starting = nil, ""
		}
		fe.sup.check(t, fe.e)
	}
}

func (fs *fuzzSup) check(t *testing.T, e supervisor.Event) {
	switch e.Kind {
	case supervisor.EventStart:
		if fs.starting != "" {
			t.Errorf("%s: %s started while %s was starting", fs.name, e.Child, fs.starting)
		}
		fs.starting = e.Child
		if !fs.started[e.Child] {
			fs.started[e.Child] = true
			if fs.firstStarts >= len(fs.children) || fs.children[fs.firstStarts] != e.Child {
				t.Errorf("%s: first start of %s out of order", fs.name, e.Child)
			}
			fs.firstStarts++
		}
	case supervisor.EventReady, supervisor.EventExit:
		if fs.starting == e.Child {
			fs.starting = ""
		}
	case supervisor.EventRestart:
		if e.Cause != e.Child {
			return // the same decision, for another member of the group
		}
		fs.decisions = append(fs.decisions, e.Time)
		if n := recent(fs.decisions, e.Time, fs.period); n > fs.intensity {
			t.Errorf("%s: %d restarts within %v, intensity %d", fs.name, n, fs.period, fs.intensity)
		}
	case supervisor.EventGiveUp:
		if n := recent(fs.decisions, e.Time, fs.period); n != fs.intensity {
			t.Errorf("%s: gave up after %d restarts within %v, intensity %d", fs.name, n, fs.period, fs.intensity)
		}
	}
}

// recent counts the times within period before now, now included.
func recent(times []time.Time, now time.Time, period time.Duration) int {
	n := 0
	for _, at := range times {
		if now.Sub(at) < period {
			n++
		}
	}
	return n
}
