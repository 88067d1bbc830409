package nursery

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The tree of live nurseries is always kept, so that a stuck program can
// be asked what it is waiting for ([WriteTree], [Handler]). Keeping it must
// cost next to nothing when debug mode is off, since every nursery pays for
// it: the entry (a node) is a field of the Nursery, so registering
// allocates nothing; New links it into one of a few mutex-guarded lists
// (picked at random, so that nurseries created on different cores rarely
// share a lock) and Wait unlinks it. Without debug mode the entry knows
// only the nursery's name, state and parent — recording an age would cost a
// clock read per New, and tracking tasks a lock per task. In debug mode
// the entry is allocated apart from the Nursery (see debug.go), so that the
// registry does not keep a nursery that was never waited reachable and the
// leak can be reported.

// registry holds the live nurseries, spread over shards.
var registry [16]shard

type shard struct {
	mu   sync.Mutex
	head *node
	_    [48]byte // keep shards on separate cache lines
}

// scopeKey is the context key under which a nursery's context holds its
// node, and a debug-mode task's context its *taskInfo, so that a nursery
// created inside knows where it sits in the tree.
type scopeKey struct{}

// node is a live nursery's entry in the registry. It is also the context
// that the nursery's own context derives from: a wrapper of the parent
// context that answers scopeKey with the node. Context values and
// cancellation pass through unchanged (the context package still finds the
// parent's cancelCtx through it, so no goroutine is started to propagate
// cancellation). Every nursery carries one, so it is kept small: the
// parent context is the Nursery's own field, not a copy.
//
// In debug mode the registered node is the one inside nurseryDebug, and
// the Nursery's own node only points to that state (dbg).
type node struct {
	prev, next *node
	up         *node         // the nursery in whose task or context this one was created
	n          *Nursery      // debug off: the nursery itself
	dbg        *nurseryDebug // debug on: its state, which does not point to the Nursery
	waiting    atomic.Bool   // Wait has been called
	shard      uint8
}

// parent returns the context given to New.
func (nd *node) parent() context.Context {
	if nd.dbg != nil {
		return nd.dbg.parent
	}
	return nd.n.parent
}

func (nd *node) Deadline() (time.Time, bool) { return nd.parent().Deadline() }
func (nd *node) Done() <-chan struct{}       { return nd.parent().Done() }
func (nd *node) Err() error                  { return nd.parent().Err() }

// Value returns the node itself for scopeKey and asks the parent context
// otherwise.
func (nd *node) Value(key any) any {
	if key == (scopeKey{}) {
		return nd
	}
	return nd.parent().Value(key)
}

// String describes the context, as the context package's own types do.
func (nd *node) String() string {
	parent := "context"
	if s, ok := nd.parent().(fmt.Stringer); ok {
		parent = s.String()
	}
	return parent + ".WithNursery(" + strconv.Quote(nd.name()) + ")"
}

func (nd *node) name() string {
	if nd.dbg != nil {
		return nd.dbg.name
	}
	return nd.n.cfg.name
}

// path is the names of the nurseries and debug-mode tasks from the root of
// the tree down to this nursery, joined with "/"; empty names are left out.
// It walks up to the root, or to the nearest debug-mode nursery (which
// keeps its path), and builds the string once: a chain of nested
// nurseries may be thousands deep, and joining level by level would copy
// the path once per level.
func (nd *node) path() string {
	switch {
	case nd.dbg != nil:
		return nd.dbg.path
	case nd.up == nil:
		return nd.n.cfg.name
	}
	var names []string
	top, size := "", 0
	for ; nd != nil; nd = nd.up {
		if nd.dbg != nil {
			top = nd.dbg.path
			break
		}
		if name := nd.n.cfg.name; name != "" {
			names = append(names, name)
			size += len(name) + 1
		}
	}
	if len(names) == 0 {
		return top
	}
	var b strings.Builder
	b.Grow(len(top) + size)
	b.WriteString(top)
	for i := len(names) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(names[i])
	}
	return b.String()
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// scope returns the nursery or debug-mode task that ctx belongs to, if any.
func scope(ctx context.Context) (up *node, task *taskInfo) {
	switch s := ctx.Value(scopeKey{}).(type) {
	case *node:
		return s, nil
	case *taskInfo:
		return &s.d.node, s
	}
	return nil, nil
}

// enter prepares the nursery's entry in the tree of live nurseries and
// returns the context that the nursery's own context is to derive from.
// New calls it before making n.ctx, and track once n is complete.
func (n *Nursery) enter(parent context.Context) context.Context {
	up, task := scope(parent)
	if n.cfg.debug || up != nil && up.dbg != nil || debugEnv() {
		d := newNurseryDebug(n, parent, up, task)
		n.tree.dbg = d
		return &d.node
	}
	n.tree.up = up
	n.tree.n = n
	return &n.tree
}

// track registers the nursery in the tree of live nurseries.
func (n *Nursery) track() {
	if d := n.tree.dbg; d != nil {
		d.track(n)
	}
	n.node().register()
}

// blocked notes that Wait has been called; in debug mode it also starts
// the watch for a slow Wait.
func (n *Nursery) blocked() {
	if d := n.tree.dbg; d != nil {
		d.waitStarted()
		return
	}
	if !n.tree.waiting.Load() {
		n.tree.waiting.Store(true)
	}
}

// untrack removes the nursery from the tree once its tasks have all
// returned; Wait's finish calls it.
func (n *Nursery) untrack() {
	if d := n.tree.dbg; d != nil {
		d.untrack()
	}
	n.node().unregister()
}

func (n *Nursery) node() *node {
	if d := n.tree.dbg; d != nil {
		return &d.node
	}
	return &n.tree
}

func (nd *node) register() {
	nd.shard = uint8(rand.Uint32() % uint32(len(registry)))
	s := &registry[nd.shard]
	s.mu.Lock()
	nd.next = s.head
	if s.head != nil {
		s.head.prev = nd
	}
	s.head = nd
	s.mu.Unlock()
}

func (nd *node) unregister() {
	s := &registry[nd.shard]
	s.mu.Lock()
	if nd.prev != nil || s.head == nd { // linked
		if nd.prev != nil {
			nd.prev.next = nd.next
		} else {
			s.head = nd.next
		}
		if nd.next != nil {
			nd.next.prev = nd.prev
		}
		nd.prev, nd.next = nil, nil
	}
	s.mu.Unlock()
}

// Nursery states, as WriteTree and TreeJSON show them.
const (
	stateRunning    = "running"
	stateWaiting    = "blocked-in-Wait"
	stateCancelling = "cancelling"
)

// treeNursery is one nursery in TreeJSON's output.
type treeNursery struct {
	ID      int         `json:"id"`
	Parent  int         `json:"parent,omitempty"`
	Task    int         `json:"task,omitempty"`
	Name    string      `json:"name"`
	Path    string      `json:"path,omitempty"`
	State   string      `json:"state"`
	Debug   bool        `json:"debug"`
	Age     string      `json:"age,omitempty"`
	Created *treeSite   `json:"created,omitempty"`
	Running int         `json:"running"`
	Status  string      `json:"status,omitempty"`
	Tasks   []*treeTask `json:"tasks,omitempty"`

	nd        *node
	up        *node
	upTask    *taskInfo
	seq       uint64         // creation order, debug mode only
	nurseries []*treeNursery // the nurseries under it, outside its tasks
	pathLen   int            // the length of Path, once written
}

// treeTask is one running task of a debug-mode nursery in TreeJSON's output.
type treeTask struct {
	ID      int       `json:"id"`
	Name    string    `json:"name"`
	Path    string    `json:"path,omitempty"`
	State   string    `json:"state"`
	Age     string    `json:"age"`
	Spawned *treeSite `json:"spawned,omitempty"`

	seq       uint64
	nurseries []*treeNursery // the nurseries created inside it
}

// treeSite is a place in the source: where a nursery was created or a task
// spawned.
type treeSite struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

func (s *treeSite) String() string {
	if s == nil {
		return "unknown"
	}
	return shortFile(s.File) + ":" + strconv.Itoa(s.Line)
}

// snapshot copies the live nurseries into a tree: nurseries created inside
// a debug-mode task under that task, others under the nursery whose context
// they derive from, the rest at the top. keep, if not nil, selects the
// top-level nurseries to return.
//
// Each shard's lock is held only to copy its list of entries, since New
// and Wait of every nursery in the shard wait for it; what the tree shows
// of each nursery is read afterwards. An entry stays valid once unlinked
// (what it points to does not change, and its state has locks or atomics
// of its own), so a nursery whose Wait returns meanwhile is shown as it
// was then.
func snapshot(keep func(*treeNursery) bool) []*treeNursery {
	var live []*node
	for i := range registry {
		s := &registry[i]
		s.mu.Lock()
		for nd := s.head; nd != nil; nd = nd.next {
			live = append(live, nd)
		}
		s.mu.Unlock()
	}
	now := time.Now()
	all := make([]*treeNursery, len(live))
	nurseries := make(map[*node]*treeNursery, len(live))
	tasks := map[*taskInfo]*treeTask{}
	for i, nd := range live {
		all[i] = nd.snap(now, tasks)
		nurseries[nd] = all[i]
	}
	var roots []*treeNursery
	for _, tn := range all {
		if tt := tasks[tn.upTask]; tn.upTask != nil && tt != nil {
			tt.nurseries = append(tt.nurseries, tn)
			continue
		}
		if p := nurseries[tn.up]; tn.up != nil && p != nil {
			p.nurseries = append(p.nurseries, tn)
			continue
		}
		if keep == nil || keep(tn) {
			roots = append(roots, tn)
		}
	}
	return roots
}

// cancelling reports whether n's context is done, as far as the nursery
// knows without asking the context (see nurseryDebug.track for why): it
// cancelled itself (Cancel, a failure or a panic), or a task returned the
// parent's cancellation. WriteTree also shows a nursery as cancelling when
// the one above it is.
func (n *Nursery) cancelling() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.selfCancelled || n.interrupted
}

// snap copies what the tree shows of the nursery. The path of a nursery
// outside debug mode is left to writeTreeJSON, which builds it from the
// path of the nursery above.
func (nd *node) snap(now time.Time, tasks map[*taskInfo]*treeTask) *treeNursery {
	tn := &treeNursery{
		Name: nd.name(),
		nd:   nd,
		up:   nd.up,
	}
	var cancelled bool
	if d := nd.dbg; d != nil {
		tn.Path = d.path
		cancelled = d.snap(tn, now, tasks)
		tn.Running = len(tn.Tasks)
	} else {
		cancelled = nd.n.cancelling()
		tn.Running = int(nd.n.tasks.state.Load() & countMask)
		if s := nd.n.cfg.status; s != nil {
			tn.Status = s()
		}
	}
	switch {
	case cancelled:
		tn.State = stateCancelling
	case nd.waiting.Load():
		tn.State = stateWaiting
	default:
		tn.State = stateRunning
	}
	return tn
}

// treeItem is a nursery or a task as walk visits it.
type treeItem struct {
	n      *treeNursery // a nursery, or nil for a task
	t      *treeTask    // a task of the nursery above
	above  *treeNursery // the nursery above n, or t's nursery
	task   *treeTask    // the task n was created in, if any
	depth  int          // as WriteTree indents it
	cancel bool         // what n is under is cancelling
}

// walk visits the tree in the order WriteTree shows it: a nursery, then
// each of its tasks followed by the nurseries created inside that task,
// then the nurseries under it outside tasks. Nurseries come in creation
// order (debug mode) or by name, tasks in the order they started. Before
// visiting a nursery, walk marks it cancelling if what it is under is, and
// its tasks if it is. It keeps a stack rather than recursing, and visits
// each nursery and task once: the depth of the tree is the program's.
// walk stops at the first error of visit.
func walk(roots []*treeNursery, visit func(treeItem) error) error {
	sortNurseries(roots)
	stack := make([]treeItem, 0, len(roots))
	for _, tn := range slices.Backward(roots) {
		stack = append(stack, treeItem{n: tn})
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		tn := it.n
		if tn == nil {
			if err := visit(it); err != nil {
				return err
			}
			continue
		}
		if it.cancel {
			tn.State = stateCancelling
		}
		in := tn.State == stateCancelling
		slices.SortStableFunc(tn.Tasks, func(a, b *treeTask) int { return cmp.Compare(a.seq, b.seq) })
		for _, tt := range tn.Tasks {
			if in {
				tt.State = stateCancelling
			}
		}
		if err := visit(it); err != nil {
			return err
		}
		sortNurseries(tn.nurseries)
		for _, c := range slices.Backward(tn.nurseries) {
			stack = append(stack, treeItem{n: c, above: tn, depth: it.depth + 1, cancel: in})
		}
		for _, tt := range slices.Backward(tn.Tasks) {
			sortNurseries(tt.nurseries)
			for _, c := range slices.Backward(tt.nurseries) {
				stack = append(stack, treeItem{n: c, above: tn, task: tt, depth: it.depth + 2, cancel: tt.State == stateCancelling})
			}
			stack = append(stack, treeItem{t: tt, above: tn, depth: it.depth + 1})
		}
	}
	return nil
}

// sortNurseries orders nurseries in debug mode first, by creation, then
// the others by name.
func sortNurseries(ns []*treeNursery) {
	slices.SortStableFunc(ns, func(a, b *treeNursery) int {
		if a.Debug != b.Debug {
			if a.Debug {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.Name, b.Name))
	})
}

// WriteTree writes every live nursery of the process — created and not yet
// done with Wait — as an indented tree: a nursery created inside a task of
// another (or from its context) appears under it. Each line gives a
// nursery's name and state: running, blocked-in-Wait, or cancelling (its
// context is done and tasks are still running; without debug mode the
// nursery knows this when it cancelled itself, when a task returned the
// parent's cancellation, or when the nursery above it is cancelling).
// Nurseries in debug mode (see [Debug]) also show their age, creation site
// and running tasks, each with its state, age and spawn site. Without debug
// mode the tree costs no time per task and a few tens of nanoseconds per
// nursery. WriteTree returns the first error of writing to w.
//
// WriteTree may be called at any time from any goroutine; it lists the
// nurseries that were live at some moment during the call, each in a state
// it had during the call, not all at one instant. It holds the locks that
// New and Wait take only to copy the list of live nurseries: it formats
// the tree and writes to w, in pieces, after releasing them, and its work
// is proportional to what it writes (each line is indented by two spaces
// per level of nesting). A nursery that is never waited stays in the tree
// (and in memory) for good, unless it is in debug mode, where the garbage
// collector finds and reports it.
func WriteTree(w io.Writer) error {
	return writeTreeText(w, snapshot(nil))
}

// writeTreeNamed is WriteTree limited to the top-level nurseries named
// name, for tests that must ignore nurseries of other tests.
func writeTreeNamed(w io.Writer, name string) error {
	return writeTreeText(w, snapshot(func(tn *treeNursery) bool { return tn.Name == name }))
}

// TreeJSON returns what [WriteTree] shows as a JSON document: an object
// whose "nurseries" array lists every live nursery, in the order WriteTree
// shows them (a nursery before the nurseries under it). The list is flat:
// a nursery has "id" (a positive number, unique in the document),
// "parent" (the id of the nursery it is under; absent at the top), "task"
// (the id of the debug-mode task of that nursery in which it was created;
// absent if none), "name", "path" (names from the top of the tree, joined
// with "/"), "state" and "debug"; in debug mode also "age" (a Go duration),
// "created" (a site) and "tasks". A task has "id", "name", "path", "state"
// (running or cancelling), "age" and "spawned" (a site). A site has
// "function", "file" and "line". An empty "nurseries" array means that no
// nursery is open.
//
// The document is flat, rather than nested like the tree, so that its
// depth stays the same however deep the tree: encoding/json refuses to
// decode (or indent) a document nested more than 10 000 levels, which
// nurseries nested 5 000 deep would exceed. Ids mean nothing from one
// document to the next. TreeJSON takes the registry's locks as WriteTree
// does. Its error is always nil.
func TreeJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeTreeJSON(&b, snapshot(nil)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// treeBuffer is the size of the buffer between the tree's formatting and
// its writer.
const treeBuffer = 16 << 10

// writeTreeText writes the tree as WriteTree shows it.
func writeTreeText(w io.Writer, roots []*treeNursery) error {
	bw := bufio.NewWriterSize(w, treeBuffer)
	if len(roots) == 0 {
		_, _ = bw.WriteString("no live nurseries\n")
		return bw.Flush()
	}
	plain := false // some nursery is not in debug mode
	var line []byte
	err := walk(roots, func(it treeItem) error {
		line = line[:0]
		if tn := it.n; tn != nil {
			line = fmt.Appendf(line, "nursery %s: %s", quoteName(tn.Name), tn.State)
			if tn.Debug {
				line = fmt.Appendf(line, ", age %s, %d %s, created at %s", tn.Age, len(tn.Tasks), plural(len(tn.Tasks), "task", "tasks"), tn.Created)
			} else {
				line = append(line, ", "...)
				line = strconv.AppendInt(line, int64(tn.Running), 10)
				line = append(line, ' ')
				line = append(line, plural(tn.Running, "task", "tasks")...)
				plain = true
			}
			if tn.Status != "" {
				line = append(line, " ["...)
				line = append(line, tn.Status...)
				line = append(line, ']')
			}
		} else {
			tt := it.t
			line = fmt.Appendf(line, "task %s: %s, age %s, spawned at %s", quoteName(tt.Name), tt.State, tt.Age, tt.Spawned)
		}
		line = append(line, '\n')
		writeIndent(bw, it.depth)
		_, err := bw.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	if plain {
		_, _ = bw.WriteString("(task names, ages and sites are shown in debug mode: nursery.Debug() or NURSERY_DEBUG=1)\n")
	}
	return bw.Flush()
}

// spaces indents WriteTree's lines, a slice at a time.
const spaces = "                                                                "

func writeIndent(w *bufio.Writer, depth int) {
	for n := 2 * depth; n > 0; {
		k := min(n, len(spaces))
		_, _ = w.WriteString(spaces[:k]) // a bufio.Writer's error sticks
		n -= k
	}
}

// writeTreeJSON writes TreeJSON's document, a nursery at a time, indented
// as json.MarshalIndent would indent the whole document.
//
// Outside debug mode a nursery does not keep its path: it is built here,
// in one buffer, from the path of the nursery above (a nursery outside
// debug mode is never under one in debug mode, nor in a task), which is
// what the buffer starts with, since walk visits only nurseries under that
// one in between. So the paths of a chain of nested nurseries cost what
// the document holds of them, and each is dropped once written.
func writeTreeJSON(w io.Writer, roots []*treeNursery) error {
	bw := bufio.NewWriterSize(w, treeBuffer)
	_, _ = bw.WriteString("{\n  \"nurseries\": [")
	var (
		id    int
		first = true
		path  []byte
		above map[*node]string // the paths of nurseries above top-level ones, gone
		nw    = &newlineHolder{w: bw}
		enc   = json.NewEncoder(nw) // reuses its buffers from one nursery to the next
	)
	enc.SetIndent("    ", "  ")
	err := walk(roots, func(it treeItem) error {
		tn := it.n
		if tn == nil {
			return nil // a task: written with its nursery
		}
		id++
		tn.ID = id
		for _, tt := range tn.Tasks {
			id++
			tt.ID = id
		}
		if it.above != nil {
			tn.Parent = it.above.ID
		}
		if it.task != nil {
			tn.Task = it.task.ID
		}
		built := false
		switch {
		case tn.Debug:
			path = append(path[:0], tn.Path...)
		case it.above != nil:
			path = path[:it.above.pathLen]
			built = true
		default:
			path = path[:0]
			if tn.up != nil {
				p, ok := above[tn.up]
				if !ok {
					p = tn.up.path()
					if above == nil {
						above = make(map[*node]string)
					}
					above[tn.up] = p
				}
				path = append(path, p...)
			}
			built = true
		}
		if built {
			if tn.Name != "" {
				if len(path) > 0 {
					path = append(path, '/')
				}
				path = append(path, tn.Name...)
			}
			tn.Path = string(path)
		}
		tn.pathLen = len(path)
		sep := ",\n    "
		if first {
			sep, first = "\n    ", false
		}
		nw.held = false
		_, _ = bw.WriteString(sep)
		// No error can come from encoding: the document holds only strings,
		// numbers, booleans and structs of them.
		err := enc.Encode(tn)
		if built {
			tn.Path = ""
		}
		return err
	})
	if err != nil {
		return err
	}
	if first {
		_, _ = bw.WriteString("]\n}\n")
	} else {
		_, _ = bw.WriteString("\n  ]\n}\n")
	}
	return bw.Flush()
}

// newlineHolder holds back the newline that a json.Encoder writes after each
// value, and writes it only if more follows: in TreeJSON's document a
// separator comes first.
type newlineHolder struct {
	w    *bufio.Writer
	held bool
}

func (h *newlineHolder) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	if h.held {
		_ = h.w.WriteByte('\n')
		h.held = false
	}
	if p[n-1] == '\n' {
		p, h.held = p[:n-1], true
	}
	_, err := h.w.Write(p)
	return n, err
}

func quoteName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return strconv.Quote(name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// formatAge rounds an age for display: to the millisecond above a second,
// to the microsecond below.
func formatAge(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// shortFile returns the last directory and the base name of a file path.
func shortFile(file string) string {
	i := strings.LastIndexByte(file, '/')
	if i <= 0 {
		return file
	}
	if j := strings.LastIndexByte(file[:i], '/'); j >= 0 {
		return file[j+1:]
	}
	return file
}

// Handler returns an HTTP handler that serves the tree of live nurseries:
// as text ([WriteTree]) by default, as JSON ([TreeJSON]) with the query
// parameter format=json. Mount it next to net/http/pprof, for example:
//
//	http.Handle("/debug/nursery", nursery.Handler())
//
// The tree names tasks and source files: serve it only where the pprof
// handlers would be served. The handler writes the tree as it formats it,
// outside the registry's locks, as WriteTree does.
func Handler() http.Handler {
	return http.HandlerFunc(serveTree)
}

func serveTree(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// An error here is the client's going away: the response has begun.
	switch format := r.URL.Query().Get("format"); format {
	case "", "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_ = writeTreeText(w, snapshot(nil))
	case "json":
		w.Header().Set("Content-Type", "application/json")
		_ = writeTreeJSON(w, snapshot(nil))
	default:
		http.Error(w, fmt.Sprintf("unknown format %q: want text or json", format), http.StatusBadRequest)
	}
}
