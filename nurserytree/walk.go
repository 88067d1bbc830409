package nurserytree

import (
	"cmp"
	"slices"

	"github.com/structured-go/nursery/internal/live"
)

// treeItem is a nursery or a task as walk visits it.
type treeItem struct {
	n      *live.Nursery // a nursery, or nil for a task
	t      *live.Task    // a task of the nursery above
	above  *live.Nursery // the nursery above n, or t's nursery
	task   *live.Task    // the task n was created in, if any
	depth  int           // as Write indents it
	cancel bool          // what n is under is cancelling
}

// walk visits the tree in the order Write shows it: a nursery, then
// each of its tasks followed by the nurseries created inside that task,
// then the nurseries under it outside tasks. Nurseries come in creation
// order (debug mode) or by name, tasks in the order they started. Before
// visiting a nursery, walk marks it cancelling if what it is under is, and
// its tasks if it is. It keeps a stack rather than recursing, and visits
// each nursery and task once: the depth of the tree is the program's.
// walk stops at the first error of visit.
func walk(roots []*live.Nursery, visit func(treeItem) error) error {
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
			tn.State = live.StateCancelling
		}
		in := tn.State == live.StateCancelling
		slices.SortStableFunc(tn.Tasks, func(a, b *live.Task) int { return cmp.Compare(a.Seq, b.Seq) })
		for _, tt := range tn.Tasks {
			if in {
				tt.State = live.StateCancelling
			}
		}
		if err := visit(it); err != nil {
			return err
		}
		sortNurseries(tn.Nurseries)
		for _, c := range slices.Backward(tn.Nurseries) {
			stack = append(stack, treeItem{n: c, above: tn, depth: it.depth + 1, cancel: in})
		}
		for _, tt := range slices.Backward(tn.Tasks) {
			sortNurseries(tt.Nurseries)
			for _, c := range slices.Backward(tt.Nurseries) {
				stack = append(stack, treeItem{n: c, above: tn, task: tt, depth: it.depth + 2, cancel: tt.State == live.StateCancelling})
			}
			stack = append(stack, treeItem{t: tt, above: tn, depth: it.depth + 1})
		}
	}
	return nil
}

// sortNurseries orders nurseries in debug mode first, by creation, then
// the others by name.
func sortNurseries(ns []*live.Nursery) {
	slices.SortStableFunc(ns, func(a, b *live.Nursery) int {
		if a.Debug != b.Debug {
			if a.Debug {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Name, b.Name))
	})
}
