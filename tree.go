package nursery

import (
	"time"

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
	s.Running = n.tasks.count()
	if st := n.cfg.status; st != nil {
		s.Status = st()
	}
	return n.tasks.has(countSelfCancelled | countInterrupted)
}
