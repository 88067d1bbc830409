package nursery

import (
	"context"
	"time"

	"github.com/structured-go/nursery/internal/debughook"
	"github.com/structured-go/nursery/internal/live"
)

// A nursery enters the tree of live nurseries (internal/live) only when
// something that shows the tree is linked into the program — package
// nurserytree, which nurserytest imports — or when it is in debug mode;
// otherwise New and Wait skip it entirely (no context lookup, allocation or
// lock). Outside debug mode the entry knows only the nursery's name, state,
// parent and number of tasks: recording an age would cost a clock read per
// New, and listing tasks a lock per task. In debug mode the entry is
// debug mode's (nurserydebug), allocated apart from the Nursery so that the
// registry does not keep a nursery that was never waited reachable and the
// leak can be reported.

// enter decides whether the nursery is in debug mode and in the tree, and
// returns the context that the nursery's own context is to derive from.
// New calls it before making n.ctx, and track once n is complete.
func (n *Nursery) enter(parent context.Context) context.Context {
	dm := debughook.Mode
	if !debugBuild {
		dm = nil
	}
	s := n.cfg.debug
	tree := live.On()
	if !tree && (dm == nil || s == nil && !dm.Active()) {
		return parent // the common case: nothing to look up
	}
	up, upTask := live.Scope(parent)
	if dm != nil && dm.Wants(s, up) {
		n.dbg = dm.Nursery(debughook.Args{
			Parent:   parent,
			Up:       up,
			UpTask:   upTask,
			Name:     n.cfg.name,
			Status:   n.cfg.status,
			Settings: s,
		})
		return n.dbg.Context()
	}
	if !tree {
		return parent
	}
	n.node = &live.Node{Up: up, Name: n.cfg.name, Entry: (*entry)(n)}
	return live.WithNode(parent, n.node)
}

// track registers the nursery in the tree of live nurseries.
func (n *Nursery) track() {
	if debugBuild && n.dbg != nil {
		n.dbg.Track(n, n.ctx)
	} else if n.node != nil {
		n.node.Register()
	}
}

// blocked notes that Wait has been called.
func (n *Nursery) blocked() {
	if debugBuild && n.dbg != nil {
		n.dbg.WaitStarted()
	} else if n.node != nil && !n.node.Waiting.Load() {
		n.node.Waiting.Store(true)
	}
}

// untrack removes the nursery from the tree once its tasks have all
// returned; Wait's finish calls it.
func (n *Nursery) untrack() {
	if debugBuild && n.dbg != nil {
		n.dbg.Done()
	} else if n.node != nil {
		n.node.Unregister()
	}
}

// entry is a nursery outside debug mode as the tree shows it.
type entry Nursery

// Snap reports the nursery's number of tasks (running, queued or blocked),
// its status line and whether it is cancelling, as far as the nursery knows
// without asking its context (whose Err, called from outside the
// testing/synctest bubble the nursery was made in, is fatal): it cancelled
// itself (Cancel, a failure or a panic), or a task returned the parent's
// cancellation. The tree also shows a nursery as cancelling when the one
// above it is.
func (e *entry) Snap(s *live.Nursery, _ time.Time, _ map[any]*live.Task) bool {
	n := (*Nursery)(e)
	s.Running = int(n.tasks.state.Load() & countMask)
	if st := n.cfg.status; st != nil {
		s.Status = st()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.selfCancelled || n.interrupted
}
