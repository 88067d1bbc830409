package nursery

import (
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
func (nd *node) path() string {
	if nd.dbg != nil {
		return nd.dbg.path
	}
	if nd.up == nil {
		return nd.n.cfg.name
	}
	return joinPath(nd.up.path(), nd.n.cfg.name)
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
	Name      string         `json:"name"`
	Path      string         `json:"path,omitempty"`
	State     string         `json:"state"`
	Debug     bool           `json:"debug"`
	Age       string         `json:"age,omitempty"`
	Created   *treeSite      `json:"created,omitempty"`
	Tasks     []*treeTask    `json:"tasks,omitempty"`
	Nurseries []*treeNursery `json:"nurseries,omitempty"`

	nd     *node
	up     *node
	upTask *taskInfo
	seq    uint64 // creation order, debug mode only
}

// treeTask is one running task of a debug-mode nursery in TreeJSON's output.
type treeTask struct {
	Name      string         `json:"name"`
	Path      string         `json:"path,omitempty"`
	State     string         `json:"state"`
	Age       string         `json:"age"`
	Spawned   *treeSite      `json:"spawned,omitempty"`
	Nurseries []*treeNursery `json:"nurseries,omitempty"`

	seq uint64
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
	return shortFile(s.File) + ":" + fmt.Sprint(s.Line)
}

// treeDoc is TreeJSON's document.
type treeDoc struct {
	Nurseries []*treeNursery `json:"nurseries"`
}

// snapshot copies the live nurseries into a tree: nurseries created inside
// a debug-mode task under that task, others under the nursery whose context
// they derive from, the rest at the top. keep, if not nil, selects the
// top-level nurseries to return.
func snapshot(keep func(*treeNursery) bool) []*treeNursery {
	now := time.Now()
	var all []*treeNursery
	tasks := map[*taskInfo]*treeTask{}
	for i := range registry {
		s := &registry[i]
		s.mu.Lock()
		for nd := s.head; nd != nil; nd = nd.next {
			all = append(all, nd.snap(now, tasks))
		}
		s.mu.Unlock()
	}
	nurseries := make(map[*node]*treeNursery, len(all))
	for _, tn := range all {
		nurseries[tn.nd] = tn
	}
	var roots []*treeNursery
	for _, tn := range all {
		if tt := tasks[tn.upTask]; tn.upTask != nil && tt != nil {
			tt.Nurseries = append(tt.Nurseries, tn)
			continue
		}
		if p := nurseries[tn.up]; tn.up != nil && p != nil {
			p.Nurseries = append(p.Nurseries, tn)
			continue
		}
		if keep == nil || keep(tn) {
			roots = append(roots, tn)
		}
	}
	for _, tn := range roots {
		markCancelling(tn, false)
	}
	sortTree(roots)
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

// markCancelling marks as cancelling what is under a cancelling nursery.
func markCancelling(tn *treeNursery, above bool) {
	if above {
		tn.State = stateCancelling
	}
	in := tn.State == stateCancelling
	for _, tt := range tn.Tasks {
		if in {
			tt.State = stateCancelling
		}
		for _, c := range tt.Nurseries {
			markCancelling(c, tt.State == stateCancelling)
		}
	}
	for _, c := range tn.Nurseries {
		markCancelling(c, in)
	}
}

// snap copies the node; the shard holding it is locked.
func (nd *node) snap(now time.Time, tasks map[*taskInfo]*treeTask) *treeNursery {
	tn := &treeNursery{
		Name: nd.name(),
		Path: nd.path(),
		nd:   nd,
		up:   nd.up,
	}
	var cancelled bool
	if d := nd.dbg; d != nil {
		cancelled = d.snap(tn, now, tasks)
	} else {
		cancelled = nd.n.cancelling()
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

// sortTree orders nurseries by creation (debug mode) or name, and tasks by
// the order they started.
func sortTree(ns []*treeNursery) {
	slices.SortStableFunc(ns, func(a, b *treeNursery) int {
		if a.Debug != b.Debug {
			if a.Debug {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.Name, b.Name))
	})
	for _, tn := range ns {
		slices.SortStableFunc(tn.Tasks, func(a, b *treeTask) int { return cmp.Compare(a.seq, b.seq) })
		for _, tt := range tn.Tasks {
			sortTree(tt.Nurseries)
		}
		sortTree(tn.Nurseries)
	}
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
// nursery. WriteTree returns the error of writing to w.
//
// WriteTree may be called at any time from any goroutine; it sees each
// nursery at some moment during the call, not all at one instant. A
// nursery that is never waited stays in the tree (and in memory) for good,
// unless it is in debug mode, where the garbage collector finds and reports
// it.
func WriteTree(w io.Writer) error {
	_, err := w.Write(formatTree(snapshot(nil)))
	return err
}

// writeTreeNamed is WriteTree limited to the top-level nurseries named
// name, for tests that must ignore nurseries of other tests.
func writeTreeNamed(w io.Writer, name string) error {
	_, err := w.Write(formatTree(snapshot(func(tn *treeNursery) bool { return tn.Name == name })))
	return err
}

// TreeJSON returns what [WriteTree] shows as a JSON document: an object
// whose "nurseries" array holds the top-level nurseries. A nursery has
// "name", "path" (names from the top of the tree, joined with "/"),
// "state", "debug", and nested "nurseries"; in debug mode also "age" (a Go
// duration), "created" (a site) and "tasks". A task has "name", "path",
// "state" (running or cancelling), "age", "spawned" (a site) and the
// "nurseries" created inside it. A site has "function", "file" and "line".
// An empty "nurseries" array means that no nursery is open.
func TreeJSON() ([]byte, error) {
	return treeJSON(snapshot(nil))
}

func treeJSON(roots []*treeNursery) ([]byte, error) {
	if roots == nil {
		roots = []*treeNursery{}
	}
	b, err := json.MarshalIndent(treeDoc{Nurseries: roots}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// formatTree renders the tree as WriteTree prints it.
func formatTree(roots []*treeNursery) []byte {
	var b bytes.Buffer
	if len(roots) == 0 {
		b.WriteString("no live nurseries\n")
		return b.Bytes()
	}
	plain := false
	for _, tn := range roots {
		plain = writeNursery(&b, tn, 0) || plain
	}
	if plain {
		b.WriteString("(tasks, ages and sites are shown in debug mode: nursery.Debug() or NURSERY_DEBUG=1)\n")
	}
	return b.Bytes()
}

// writeNursery writes tn and what it holds at the given depth, and reports
// whether some nursery in it is not in debug mode.
func writeNursery(b *bytes.Buffer, tn *treeNursery, depth int) (plain bool) {
	indent(b, depth)
	fmt.Fprintf(b, "nursery %s: %s", quoteName(tn.Name), tn.State)
	if tn.Debug {
		fmt.Fprintf(b, ", age %s, %d %s, created at %s", tn.Age, len(tn.Tasks), plural(len(tn.Tasks), "task", "tasks"), tn.Created)
	}
	b.WriteByte('\n')
	plain = !tn.Debug
	for _, tt := range tn.Tasks {
		indent(b, depth+1)
		fmt.Fprintf(b, "task %s: %s, age %s, spawned at %s\n", quoteName(tt.Name), tt.State, tt.Age, tt.Spawned)
		for _, c := range tt.Nurseries {
			plain = writeNursery(b, c, depth+2) || plain
		}
	}
	for _, c := range tn.Nurseries {
		plain = writeNursery(b, c, depth+1) || plain
	}
	return plain
}

func indent(b *bytes.Buffer, depth int) {
	for range depth {
		b.WriteString("  ")
	}
}

func quoteName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return fmt.Sprintf("%q", name)
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
// handlers would be served.
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
	switch format := r.URL.Query().Get("format"); format {
	case "", "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(formatTree(snapshot(nil)))
	case "json":
		b, err := TreeJSON()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	default:
		http.Error(w, fmt.Sprintf("unknown format %q: want text or json", format), http.StatusBadRequest)
	}
}
