package live

import (
	"strconv"
	"strings"
	"time"
)

// Nursery states, as the tree shows them.
const (
	StateRunning    = "running"
	StateWaiting    = "blocked-in-Wait"
	StateCancelling = "cancelling"
)

// Nursery is one nursery in a snapshot, and in nurserytree's JSON
// document.
type Nursery struct {
	ID      int     `json:"id"`
	Parent  int     `json:"parent,omitempty"`
	Task    int     `json:"task,omitempty"`
	Name    string  `json:"name"`
	Path    string  `json:"path,omitempty"`
	State   string  `json:"state"`
	Debug   bool    `json:"debug"`
	Age     string  `json:"age,omitempty"`
	Created *Site   `json:"created,omitempty"`
	Running int     `json:"running"`
	Status  string  `json:"status,omitempty"`
	Tasks   []*Task `json:"tasks,omitempty"`

	Node      *Node      `json:"-"`
	UpTask    any        `json:"-"` // the debug-mode task it was created in
	Seq       uint64     `json:"-"` // creation order, debug mode only
	Nurseries []*Nursery `json:"-"` // the nurseries under it, outside its tasks
	PathLen   int        `json:"-"` // the length of Path, once written
}

// Task is one running task of a debug-mode nursery in a snapshot.
type Task struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	State   string `json:"state"`
	Age     string `json:"age"`
	Spawned *Site  `json:"spawned,omitempty"`

	Seq       uint64     `json:"-"`
	Nurseries []*Nursery `json:"-"` // the nurseries created inside it
}

// Site is a place in the source: where a nursery was created or a task
// spawned.
type Site struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

func (s *Site) String() string {
	if s == nil {
		return "unknown"
	}
	return ShortFile(s.File) + ":" + strconv.Itoa(s.Line)
}

// Snapshot copies the live nurseries into a tree: nurseries created inside
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
func Snapshot(keep func(*Nursery) bool) []*Nursery {
	var nodes []*Node
	for i := range registry {
		s := &registry[i]
		s.mu.Lock()
		for nd := s.head; nd != nil; nd = nd.next {
			nodes = append(nodes, nd)
		}
		s.mu.Unlock()
	}
	now := time.Now()
	all := make([]*Nursery, len(nodes))
	nurseries := make(map[*Node]*Nursery, len(nodes))
	tasks := map[any]*Task{}
	for i, nd := range nodes {
		all[i] = nd.snap(now, tasks)
		nurseries[nd] = all[i]
	}
	var roots []*Nursery
	for _, tn := range all {
		if tt := tasks[tn.UpTask]; tn.UpTask != nil && tt != nil {
			tt.Nurseries = append(tt.Nurseries, tn)
			continue
		}
		if p := nurseries[tn.Node.Up]; tn.Node.Up != nil && p != nil {
			p.Nurseries = append(p.Nurseries, tn)
			continue
		}
		if keep == nil || keep(tn) {
			roots = append(roots, tn)
		}
	}
	return roots
}

// snap copies what the tree shows of the nursery. The path of a nursery
// outside debug mode is left to the writer, which builds it from the path
// of the nursery above.
func (nd *Node) snap(now time.Time, tasks map[any]*Task) *Nursery {
	tn := &Nursery{Name: nd.Name, Node: nd, Debug: nd.Debug}
	if nd.Debug {
		tn.Path = nd.Path
	}
	switch {
	case nd.Entry.Snap(tn, now, tasks):
		tn.State = StateCancelling
	case nd.Waiting.Load():
		tn.State = StateWaiting
	default:
		tn.State = StateRunning
	}
	return tn
}

// FormatAge rounds an age for display: to the millisecond above a second,
// to the microsecond below.
func FormatAge(d time.Duration) string {
	// A task or nursery that began after the snapshot's clock reading,
	// as the snapshot was being taken, is shown as just begun.
	d = max(d, 0)
	if d >= time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// ShortFile returns the last directory and the base name of a file path.
func ShortFile(file string) string {
	i := strings.LastIndexByte(file, '/')
	if i <= 0 {
		return file
	}
	if j := strings.LastIndexByte(file[:i], '/'); j >= 0 {
		return file[j+1:]
	}
	return file
}
