package nurserydebug

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/internal/debughook"
	"github.com/structured-go/nursery/internal/live"
)

// defaultSlow is how long a task may run, or Wait stay blocked, before
// debug mode warns about it.
const defaultSlow = 10 * time.Second

// seq numbers debug-mode nurseries in creation order, for the tree.
var seq atomic.Uint64

// nurseryDebug is a debug-mode nursery's state. It holds no strong
// reference to the Nursery, so that the registry, which holds it, does not
// keep a nursery that was never waited alive, and its cleanup can run.
type nurseryDebug struct {
	node live.Node // the nursery's entry in the tree

	ctx       context.Context // what the nursery's context derives from
	cancelled atomic.Bool     // the nursery's context is done
	label     string          // path, or the creation site if the path is empty
	upTask    *taskInfo       // the debug-mode task in which the nursery was created
	seq       uint64
	created   time.Time
	site      site
	slow      time.Duration               // 0: no warnings
	logger    *slog.Logger                // nil: slog.Default()
	status    func() string               // WithStatus, or nil
	countWord weak.Pointer[atomic.Uint64] // the nursery's count of tasks, queued ones included
	countMask uint64
	cleanup   runtime.Cleanup
	trace     *trace.Task // nil unless a trace was being recorded at New

	spawned atomic.Uint64 // numbers tasks in the order they were started

	mu        sync.Mutex
	tasks     *taskInfo   // running tasks, the latest first
	watch     *time.Timer // fires at the next moment something may be slow
	watching  bool        // watch is armed
	waitSince time.Time   // when Wait was first called; zero before
	waitNoted bool        // the slow Wait was reported
	done      bool        // Wait has finished
}

// up returns the debug state of the nursery a node belongs to, if it is
// in debug mode.
func up(nd *live.Node) *nurseryDebug {
	if nd == nil {
		return nil
	}
	d, _ := nd.Entry.(*nurseryDebug)
	return d
}

func newNursery(a debughook.Args) *nurseryDebug {
	d := &nurseryDebug{
		seq:       seq.Add(1),
		created:   time.Now(),
		site:      callers(),
		slow:      defaultSlow,
		status:    a.Status,
		countMask: a.CountMask,
	}
	if live.On() {
		// Only the tree reads it. Weak: a strong pointer would keep the
		// nursery reachable, and it would never be reported as leaked.
		d.countWord = weak.Make(a.Count)
	}
	d.upTask, _ = a.UpTask.(*taskInfo)
	from := ""
	if a.Up != nil {
		from = a.Up.PathOf()
		if u := up(a.Up); u != nil {
			d.slow, d.logger = u.slow, u.logger
		}
	}
	if d.upTask != nil {
		from = d.upTask.path
	}
	if s := a.Settings; s != nil {
		switch {
		case s.Slow < 0:
			d.slow = 0
		case s.Slow > 0:
			d.slow = s.Slow
		}
		if l, ok := s.Logger.(*slog.Logger); ok {
			d.logger = l
		}
	}
	d.node = live.Node{
		Up:    a.Up,
		Name:  a.Name,
		Path:  live.JoinPath(from, a.Name),
		Debug: true,
		Entry: d,
	}
	d.label = d.node.Path
	if d.label == "" {
		d.label = d.site.String()
	}
	parent := a.Parent
	if trace.IsEnabled() {
		parent, d.trace = trace.NewTask(parent, "nursery")
		trace.Log(parent, "nursery", d.label)
	}
	d.ctx = live.WithNode(parent, &d.node)
	return d
}

func (d *nurseryDebug) Context() context.Context { return d.ctx }

// Track arms the report of a nursery that is never waited, and the flag
// that the tree shows as "cancelling". (The tree cannot ask the context:
// its Err receives from the Done channel once the context is cancelled,
// which is fatal from outside the testing/synctest bubble the nursery was
// made in. The flag costs a goroutine when the context ends, which only
// debug mode pays.)
func (d *nurseryDebug) Track(n any, ctx context.Context) {
	d.cleanup = runtime.AddCleanup(n.(*nursery.Nursery), (*nurseryDebug).leaked, d)
	context.AfterFunc(ctx, func() { d.cancelled.Store(true) })
	if live.On() {
		d.node.Register()
	}
}

// Done disarms the reports once Wait has finished.
func (d *nurseryDebug) Done() {
	d.cleanup.Stop()
	d.mu.Lock()
	d.done = true
	if d.watch != nil {
		d.watch.Stop()
	}
	d.mu.Unlock()
	if d.trace != nil {
		d.trace.End()
	}
	d.node.Unregister()
}

// leaked runs when the garbage collector finds that a nursery was never
// waited: its tasks' errors and panics can no longer be reported.
func (d *nurseryDebug) leaked() {
	d.node.Unregister()
	d.log(slog.LevelError, "nursery: a Nursery became unreachable without Wait",
		slog.String("nursery", d.display()),
		slog.String("created", d.site.String()))
}

// WaitStarted marks the nursery blocked in Wait and, the first time,
// watches for a slow Wait.
func (d *nurseryDebug) WaitStarted() {
	if !d.node.Waiting.Load() {
		d.node.Waiting.Store(true)
	}
	if d.slow <= 0 {
		return
	}
	now := time.Now()
	d.mu.Lock()
	if d.waitSince.IsZero() && !d.done {
		d.waitSince = now
		d.arm(now, now.Add(d.slow))
	}
	d.mu.Unlock()
}

// arm makes the watch fire at deadline unless it is armed already (for an
// earlier moment: every deadline is the start of something plus d.slow, and
// things start in order). d.mu is held.
func (d *nurseryDebug) arm(now, deadline time.Time) {
	if d.watching {
		return
	}
	d.watching = true
	if d.watch == nil {
		d.watch = time.AfterFunc(deadline.Sub(now), d.check)
		return
	}
	d.watch.Reset(deadline.Sub(now))
}

// check is the watch: one timer per nursery, rather than one per task,
// reports each task that has run for d.slow, and a Wait blocked for as
// long, once, then re-arms for the next one that may become slow.
func (d *nurseryDebug) check() {
	var slowTasks []*taskInfo
	var running []string
	var blocked time.Duration
	now := time.Now()
	d.mu.Lock()
	d.watching = false
	if d.done {
		d.mu.Unlock()
		return
	}
	next := time.Time{}
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for t := d.tasks; t != nil; t = t.next {
		switch deadline := t.started.Add(d.slow); {
		case t.noted:
		case !now.Before(deadline):
			t.noted = true
			slowTasks = append(slowTasks, t)
		default:
			later(deadline)
		}
	}
	if !d.waitSince.IsZero() && !d.waitNoted {
		if deadline := d.waitSince.Add(d.slow); now.Before(deadline) {
			later(deadline)
		} else {
			d.waitNoted = true
			blocked = now.Sub(d.waitSince)
			// Latest first in the list: report the oldest first.
			for t := d.tasks; t != nil; t = t.next {
				running = append(running, fmt.Sprintf("%s (spawned at %s, running for %s)", t.display(), t.site.String(), live.FormatAge(now.Sub(t.started))))
			}
			slices.Reverse(running)
		}
	}
	if !next.IsZero() {
		d.arm(now, next)
	}
	d.mu.Unlock()

	slices.Reverse(slowTasks)
	for _, t := range slowTasks {
		d.log(slog.LevelWarn, "nursery: slow task",
			slog.String("task", t.display()),
			slog.String("spawned", t.site.String()),
			slog.Duration("running", now.Sub(t.started)))
	}
	if blocked > 0 {
		d.log(slog.LevelWarn, "nursery: slow Wait",
			slog.String("nursery", d.display()),
			slog.String("created", d.site.String()),
			slog.Duration("blocked", blocked),
			slog.String("running", strings.Join(running, "; ")))
	}
}

func (d *nurseryDebug) log(level slog.Level, msg string, attrs ...slog.Attr) {
	l := d.logger
	if l == nil {
		l = slog.Default()
	}
	l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (d *nurseryDebug) display() string {
	if d.node.Path == "" {
		return "(unnamed)"
	}
	return d.node.Path
}

// Snap fills in what the tree shows of the nursery and its tasks, and
// reports whether its context is done.
func (d *nurseryDebug) Snap(tn *live.Nursery, now time.Time, tasks map[any]*live.Task) (cancelled bool) {
	tn.Seq = d.seq
	if d.upTask != nil {
		tn.UpTask = d.upTask
	}
	tn.Age = live.FormatAge(now.Sub(d.created))
	tn.Created = d.site.tree()
	if d.status != nil {
		tn.Status = d.status()
	}
	cancelled = d.cancelled.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	for t := d.tasks; t != nil; t = t.next {
		state := live.StateRunning
		if cancelled || t.alone != nil && t.alone.Load() {
			state = live.StateCancelling
		}
		tt := &live.Task{
			Name:    t.name,
			Path:    t.path,
			State:   state,
			Age:     live.FormatAge(now.Sub(t.started)),
			Spawned: t.site.tree(),
			Seq:     t.seq,
		}
		tn.Tasks = append(tn.Tasks, tt)
		tasks[t] = tt
	}
	tn.Running = len(tn.Tasks)
	if c := d.countWord.Value(); c != nil {
		// Tasks accepted and not yet begun (queued, or on their way to
		// their goroutine) count too, as outside debug mode; only those
		// that have begun are listed.
		tn.Running = max(int(c.Load()&d.countMask), len(tn.Tasks))
	}
	return cancelled
}
