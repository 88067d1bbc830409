package nurserydebug

import (
	"context"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery/internal/debughook"
	"github.com/structured-go/nursery/internal/live"
)

// taskInfo is what debug mode knows about a task. Like nurseryDebug, it
// holds no strong reference to the Nursery once the task has returned.
type taskInfo struct {
	d      *nurseryDebug
	name   string
	path   string
	label  string // for trace: path, or the spawn site if empty
	labels pprof.LabelSet
	site   site
	seq    uint64 // order among the nursery's tasks
	scope  taskScope

	// Between Begin and End.
	outer     context.Context // the task's context without its labels
	traceTask *trace.Task     // while tracing
	region    *trace.Region   // while tracing

	// Guarded by d.mu; set while the task runs.
	prev, next *taskInfo
	started    time.Time
	alone      *atomic.Bool // a Spawned task's "cancelled by Task.Cancel"
	noted      bool         // reported as slow
}

// Task records a task being started.
func (d *nurseryDebug) Task(name string) debughook.Task {
	t := &taskInfo{d: d, name: name, site: callers(), seq: d.spawned.Add(1)}
	t.path = live.JoinPath(d.node.Path, name)
	t.label = t.path
	if t.label == "" {
		// Resolved here, on the spawner's goroutine, not on the task's
		// small new stack, which resolving would make grow.
		t.label = t.site.String()
	}
	// Allocated here rather than on the task's new goroutine, whose small
	// stack an allocation makes grow (a real task's work would, anyway).
	t.labels = pprof.Labels("nursery", d.label, "task", t.label)
	t.scope.ref = live.TaskRef{Node: &d.node, Task: t}
	return t
}

// Begin starts a debug-mode task: registered among its nursery's running
// tasks, watched for slowness, under pprof labels and, while tracing, in a
// trace task and region. It returns the context the task runs with; End
// undoes the rest. (Two calls rather than one that calls the task, so that
// debug mode's frames are off the task's stack while it runs, and no
// closure is made per task.)
func (t *taskInfo) Begin(ctx context.Context, alone *atomic.Bool) context.Context {
	t.d.begin(t, alone)
	if trace.IsEnabled() {
		ctx, t.traceTask = trace.NewTask(ctx, "nursery.task")
		trace.Log(ctx, "task", t.label)
	}
	t.scope.Context = ctx
	// pprof.Do, without the closure it needs: labels on the goroutine and
	// in the context for the task; End puts the goroutine's labels back.
	t.outer = &t.scope
	ctx = pprof.WithLabels(t.outer, t.labels)
	pprof.SetGoroutineLabels(ctx)
	if t.traceTask != nil {
		t.region = trace.StartRegion(ctx, "nursery.run")
	}
	return ctx
}

// End ends what Begin started, as the task returns, panics or exits.
func (t *taskInfo) End() {
	if t.region != nil {
		t.region.End()
	}
	pprof.SetGoroutineLabels(t.outer)
	if t.traceTask != nil {
		t.traceTask.End()
	}
	t.d.end(t)
}

func (d *nurseryDebug) begin(t *taskInfo, alone *atomic.Bool) {
	now := time.Now()
	d.mu.Lock()
	t.started, t.alone = now, alone
	t.next = d.tasks
	if d.tasks != nil {
		d.tasks.prev = t
	}
	d.tasks = t
	if d.slow > 0 {
		d.arm(now, now.Add(d.slow))
	}
	d.mu.Unlock()
}

func (d *nurseryDebug) end(t *taskInfo) {
	d.mu.Lock()
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		d.tasks = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next, t.alone = nil, nil, nil
	d.mu.Unlock()
}

func (t *taskInfo) Path() string { return t.path }
func (t *taskInfo) Site() string { return t.site.String() }

func (t *taskInfo) display() string {
	if t.path == "" {
		return "(unnamed)"
	}
	return t.path
}

// Within reports whether t runs in a nursery created, at any depth, inside
// the task outer.
func (t *taskInfo) Within(outer debughook.Task) bool {
	o, ok := outer.(*taskInfo)
	if !ok {
		return false
	}
	for u := t.d.upTask; u != nil; u = u.d.upTask {
		if u == o {
			return true
		}
	}
	return false
}

// taskScope is a debug-mode task's context: it answers live.ScopeKey with
// the task, so that nurseries created inside appear under it in the tree.
type taskScope struct {
	context.Context
	ref live.TaskRef
}

func (c *taskScope) Value(key any) any {
	if key == (live.ScopeKey{}) {
		return &c.ref
	}
	return c.Context.Value(key)
}

func (c *taskScope) String() string {
	return live.ContextName(c.Context) + ".WithTask(" + strconv.Quote(c.ref.Task.(*taskInfo).label) + ")"
}
