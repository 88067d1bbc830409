package nursery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultSlow is how long a task may run, or Wait stay blocked, before
// debug mode warns about it.
const defaultSlow = 10 * time.Second

// debugEnv reports whether the environment variable NURSERY_DEBUG turns
// debug mode on for every nursery. It is read once, at the first New.
var debugEnv = sync.OnceValue(func() bool {
	on, _ := strconv.ParseBool(os.Getenv("NURSERY_DEBUG"))
	return on
})

// Debug turns on debug mode for the nursery and for every nursery created
// inside its tasks (as does the environment variable NURSERY_DEBUG=1 for
// every nursery of the process, read once). In debug mode:
//
//   - each task records its spawn site (the file and line that called Go,
//     Spawn or Start) and its path, the names of its nurseries and tasks
//     from the top of the tree ("server/conn-17/read"); Wait's errors and
//     *[PanicError] messages name both;
//   - tasks run under the pprof labels "nursery" and "task" (see
//     runtime/pprof.Do), so CPU profiles and goroutine dumps group by task,
//     and, while an execution trace is being recorded, inside runtime/trace
//     tasks and regions, so that go tool trace shows the tree;
//   - a task that runs longer than a threshold, or a Wait blocked longer
//     than it, is reported once through log/slog with the tasks still
//     running (see [DebugSlow] and [DebugLogger]);
//   - a nursery made with [New] that becomes unreachable without Wait
//     having been called is reported, with its creation site, when the
//     garbage collector finds it;
//   - [WriteTree] shows each task with its state, age and spawn site.
//
// Debug mode costs about a microsecond and five allocations per task, and
// a few microseconds per nursery (the bench module's Debug family measures
// it); without it none of this is recorded. In debug mode, tasks receive a
// context derived from the nursery's (it carries the labels), not the
// nursery's own.
func Debug() Option {
	return optionFunc(func(c *config) { c.debug = true })
}

// DebugLogger sets where debug mode reports slow tasks, slow Waits and
// nurseries never waited; the default is slog.Default() at the time of the
// report. Nurseries created inside the nursery's tasks inherit it. It does
// not turn debug mode on. DebugLogger panics if l is nil.
func DebugLogger(l *slog.Logger) Option {
	if l == nil {
		panic("nursery: nil Logger")
	}
	return optionFunc(func(c *config) { c.debugOptions().logger = l })
}

// DebugSlow sets how long a task may run, or Wait stay blocked, before
// debug mode reports it (once); the default is 10 seconds, and d <= 0 turns
// the reports off. Nurseries created inside the nursery's tasks inherit it.
// It does not turn debug mode on.
func DebugSlow(d time.Duration) Option {
	if d <= 0 {
		d = -1
	}
	return optionFunc(func(c *config) { c.debugOptions().slow = d })
}

// debugOptions holds what DebugLogger and DebugSlow set, apart from config
// so that nurseries without them pay no room for them.
type debugOptions struct {
	logger *slog.Logger
	slow   time.Duration // 0: inherited or the default; < 0: no reports
}

func (c *config) debugOptions() *debugOptions {
	if c.debugOpt == nil {
		c.debugOpt = new(debugOptions)
	}
	return c.debugOpt
}

// debugSeq numbers debug-mode nurseries in creation order, for WriteTree.
var debugSeq atomic.Uint64

// nurseryDebug is a debug-mode nursery's state. It holds no strong
// reference to the Nursery, so that the registry, which holds it, does not
// keep a nursery that was never waited alive, and its cleanup can run.
type nurseryDebug struct {
	node // the nursery's entry in the registry

	parent    context.Context // the context given to New, in a trace task if tracing
	cancelled atomic.Bool     // the nursery's context is done
	name      string
	path      string
	label     string    // path, or the creation site if the path is empty
	upTask    *taskInfo // the debug-mode task in which the nursery was created
	seq       uint64
	created   time.Time
	site      site
	slow      time.Duration // 0: no warnings
	logger    *slog.Logger  // nil: slog.Default()
	status    func() string // WithStatus, or nil
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

func newNurseryDebug(n *Nursery, parent context.Context, up *node, upTask *taskInfo) *nurseryDebug {
	d := &nurseryDebug{
		name:    n.cfg.name,
		upTask:  upTask,
		seq:     debugSeq.Add(1),
		created: time.Now(),
		site:    callers(),
		slow:    defaultSlow,
		status:  n.cfg.status,
	}
	from := ""
	if up != nil {
		from = up.path()
		if up.dbg != nil {
			d.slow, d.logger = up.dbg.slow, up.dbg.logger
		}
	}
	if upTask != nil {
		from = upTask.path
	}
	if o := n.cfg.debugOpt; o != nil {
		switch {
		case o.slow < 0:
			d.slow = 0
		case o.slow > 0:
			d.slow = o.slow
		}
		if o.logger != nil {
			d.logger = o.logger
		}
	}
	d.path = joinPath(from, d.name)
	d.label = d.path
	if d.label == "" {
		d.label = d.site.String()
	}
	if trace.IsEnabled() {
		parent, d.trace = trace.NewTask(parent, "nursery")
		trace.Log(parent, "nursery", d.label)
	}
	d.parent = parent
	d.node.up = up
	d.node.dbg = d
	return d
}

// track arms the report of a nursery that is never waited, and the flag
// that the tree shows as "cancelling". (WriteTree cannot ask the context:
// its Err receives from the Done channel once the context is cancelled,
// which is fatal from outside the testing/synctest bubble the nursery was
// made in. The flag costs a goroutine when the context ends, which only
// debug mode pays.)
func (d *nurseryDebug) track(n *Nursery) {
	d.cleanup = runtime.AddCleanup(n, (*nurseryDebug).leaked, d)
	context.AfterFunc(n.ctx, func() { d.cancelled.Store(true) })
}

// untrack disarms the reports once Wait has finished.
func (d *nurseryDebug) untrack() {
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
}

// leaked runs when the garbage collector finds that a nursery was never
// waited: its tasks' errors and panics can no longer be reported.
func (d *nurseryDebug) leaked() {
	d.node.unregister()
	d.log(slog.LevelError, "nursery: a Nursery became unreachable without Wait",
		slog.String("nursery", d.display()),
		slog.String("created", d.site.String()))
}

// waitStarted marks the nursery blocked in Wait and, the first time,
// watches for a slow Wait.
func (d *nurseryDebug) waitStarted() {
	if !d.node.waiting.Load() {
		d.node.waiting.Store(true)
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
				running = append(running, fmt.Sprintf("%s (spawned at %s, running for %s)", t.display(), t.site.String(), formatAge(now.Sub(t.started))))
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
	if d.path == "" {
		return "(unnamed)"
	}
	return d.path
}

// snap fills in tn and reports whether the nursery's context is done; the
// registry shard holding d is locked.
func (d *nurseryDebug) snap(tn *treeNursery, now time.Time, tasks map[*taskInfo]*treeTask) (cancelled bool) {
	tn.Debug = true
	tn.seq = d.seq
	tn.upTask = d.upTask
	tn.Age = formatAge(now.Sub(d.created))
	tn.Created = d.site.tree()
	if d.status != nil {
		tn.Status = d.status()
	}
	cancelled = d.cancelled.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	for t := d.tasks; t != nil; t = t.next {
		state := stateRunning
		if cancelled || t.alone != nil && t.alone.Load() {
			state = stateCancelling
		}
		tt := &treeTask{
			Name:    t.name,
			Path:    t.path,
			State:   state,
			Age:     formatAge(now.Sub(t.started)),
			Spawned: t.site.tree(),
			seq:     t.seq,
		}
		tn.Tasks = append(tn.Tasks, tt)
		tasks[t] = tt
	}
	return cancelled
}

// debugTask is a debug-mode task's settings and state, in one allocation.
type debugTask struct {
	tc    taskConfig
	info  taskInfo
	scope taskScope
}

// taskInfo is what debug mode knows about a task. Like nurseryDebug, it
// holds no strong reference to the Nursery once the task has returned.
type taskInfo struct {
	d      *nurseryDebug
	name   string
	path   string
	label  string // for trace: path, or the spawn site if empty
	labels pprof.LabelSet
	scope  *taskScope // the context the task runs with
	site   site
	seq    uint64 // order among the nursery's tasks

	// Guarded by d.mu; set while the task runs.
	prev, next *taskInfo
	started    time.Time
	alone      *atomic.Bool // a Spawned task's "cancelled by Task.Cancel"
	noted      bool         // reported as slow
}

// taskConfig returns the settings of a task that Go, Spawn or Start — its
// only callers — start; in debug mode they include the spawn site.
func (n *Nursery) taskConfig(opts []TaskOption) *taskConfig {
	if d := n.tree.dbg; d != nil {
		return d.newTask(opts)
	}
	return newTaskConfig(opts)
}

func (d *nurseryDebug) newTask(opts []TaskOption) *taskConfig {
	dt := new(debugTask)
	for _, o := range opts {
		if o == nil {
			panic("nursery: nil TaskOption")
		}
		o.applyTask(&dt.tc)
	}
	t := &dt.info
	t.d, t.name, t.site, t.seq = d, dt.tc.name, callers(), d.spawned.Add(1)
	t.path = joinPath(d.path, t.name)
	t.label = t.path
	if t.label == "" {
		// Resolved here, on the spawner's goroutine, not on the task's
		// small new stack, which resolving would make grow.
		t.label = t.site.String()
	}
	// Allocated here rather than on the task's new goroutine, whose small
	// stack an allocation makes grow (a real task's work would, anyway).
	t.labels = pprof.Labels("nursery", d.label, "task", t.label)
	t.scope = &dt.scope
	dt.tc.dbg = t
	return &dt.tc
}

// debugInfo returns the task's debug-mode record, or nil.
func (tc *taskConfig) debugInfo() *taskInfo {
	if tc == nil {
		return nil
	}
	return tc.dbg
}

// call runs a debug-mode task: registered among its nursery's running
// tasks, watched for slowness, under pprof labels and, while tracing, in a
// trace task and region.
func (t *taskInfo) call(ctx context.Context, it item) error {
	d := t.d
	d.begin(t, ctx)
	defer d.end(t)
	tracing := trace.IsEnabled()
	if tracing {
		var tt *trace.Task
		ctx, tt = trace.NewTask(ctx, "nursery.task")
		trace.Log(ctx, "task", t.label)
		defer tt.End()
	}
	t.scope.Context, t.scope.t = ctx, t
	ctx = t.scope
	// pprof.Do, without the closure it needs: labels on the goroutine and
	// in the context for the task, then the goroutine's labels back.
	defer pprof.SetGoroutineLabels(ctx)
	ctx = pprof.WithLabels(ctx, t.labels)
	pprof.SetGoroutineLabels(ctx)
	if tracing {
		defer trace.StartRegion(ctx, "nursery.run").End()
	}
	return it.callPlain(ctx)
}

func (d *nurseryDebug) begin(t *taskInfo, ctx context.Context) {
	now := time.Now()
	var alone *atomic.Bool
	if c, ok := ctx.(*taskContext); ok {
		alone = &c.alone
	}
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

func (t *taskInfo) display() string {
	if t.path == "" {
		return "(unnamed)"
	}
	return t.path
}

// describe is what a *PanicError's message says about the task.
func (t *taskInfo) describe() string {
	if t.path == "" {
		return "spawned at " + t.site.String()
	}
	return t.path + ", spawned at " + t.site.String()
}

// within reports whether t runs in a nursery created, at any depth, inside
// the task outer.
func (t *taskInfo) within(outer *taskInfo) bool {
	for u := t.d.upTask; u != nil; u = u.d.upTask {
		if u == outer {
			return true
		}
	}
	return false
}

// taskError names a task's failure for Wait's report: a *TaskError with
// the names of the nursery and task and, in debug mode, the task's path
// and spawn site.
func (n *Nursery) taskError(err error, tc *taskConfig) error {
	ix, indexed := err.(*indexed)
	t := tc.debugInfo()
	if t == nil && n.cfg.name == "" && tc.taskName() == "" && !indexed {
		// Nothing to name: the error as the task returned it, so that
		// comparing Wait's result with a sentinel works as with errgroup.
		return err
	}
	te := &TaskError{Nursery: n.cfg.name, Task: tc.taskName(), Index: -1, Err: err}
	if indexed {
		te.Index, te.Err = ix.index, ix.err
	}
	if t == nil {
		return te
	}
	var inner *TaskError
	if errors.As(te.Err, &inner) && inner.origin != nil && inner.origin.within(t) {
		// The error of a nursery nested in this task already names the
		// whole path down to the task that failed.
		if te.Index < 0 {
			return te.Err
		}
		return &TaskError{Index: te.Index, Err: te.Err}
	}
	te.origin = t
	return te
}

// taskScope is a debug-mode task's context: it answers scopeKey with the
// task, so that nurseries created inside appear under it in the tree.
type taskScope struct {
	context.Context
	t *taskInfo
}

func (c *taskScope) Value(key any) any {
	if key == (scopeKey{}) {
		return c.t
	}
	return c.Context.Value(key)
}

func (c *taskScope) String() string {
	parent := "context"
	if s, ok := c.Context.(fmt.Stringer); ok {
		parent = s.String()
	}
	return parent + ".WithTask(" + strconv.Quote(c.t.label) + ")"
}

// site is where a nursery was created or a task spawned: the return PCs of
// the first frames of the stack, resolved only when shown.
type site struct {
	pcs [6]uintptr // enough to get out of Gather, Map and Run
	n   int
}

// callers records the stack of the caller of the function that calls it.
func callers() site {
	var s site
	s.n = runtime.Callers(3, s.pcs[:])
	return s
}

// pkgPath is this package's import path; frames in it (outside its tests)
// are skipped when finding a site, so that a nursery made by Run or Map
// and a task started by Go show the user's line.
var pkgPath = reflect.TypeFor[Nursery]().PkgPath()

// siteCache holds resolved sites by their PCs: resolving costs about a
// microsecond, and sites repeat (a loop spawns many tasks from one line).
// It stops growing at maxSites entries.
var siteCache struct {
	sync.RWMutex
	m map[[6]uintptr]runtime.Frame
}

const maxSites = 4096

// frame returns the first frame outside this package.
func (s *site) frame() (runtime.Frame, bool) {
	if s.n == 0 {
		return runtime.Frame{}, false
	}
	siteCache.RLock()
	f, ok := siteCache.m[s.pcs]
	siteCache.RUnlock()
	if ok {
		return f, true
	}
	f = s.resolve()
	siteCache.Lock()
	if siteCache.m == nil {
		siteCache.m = make(map[[6]uintptr]runtime.Frame)
	}
	if len(siteCache.m) < maxSites {
		siteCache.m[s.pcs] = f
	}
	siteCache.Unlock()
	return f, true
}

func (s *site) resolve() runtime.Frame {
	frames := runtime.CallersFrames(s.pcs[:s.n])
	for {
		f, more := frames.Next()
		if !internal(f) || !more {
			return f
		}
	}
}

func internal(f runtime.Frame) bool {
	rest, ok := strings.CutPrefix(f.Function, pkgPath)
	return ok && strings.HasPrefix(rest, ".") && !strings.HasSuffix(f.File, "_test.go")
}

// String returns the site as dir/file.go:line.
func (s *site) String() string {
	f, ok := s.frame()
	if !ok {
		return "unknown"
	}
	return shortFile(f.File) + ":" + strconv.Itoa(f.Line)
}

func (s *site) tree() *treeSite {
	f, ok := s.frame()
	if !ok {
		return nil
	}
	return &treeSite{Function: f.Function, File: f.File, Line: f.Line}
}
