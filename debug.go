package nursery

import "github.com/structured-go/nursery/internal/debughook"

// Debug mode lives in package nurserydebug, beside the core: its options
// set the nursery's debughook.Settings, and New hands a nursery in debug
// mode to it (see enter), which returns the one hook the core then calls —
// n.dbg, nil outside debug mode. Each task of such a nursery carries a
// debughook.Task in its taskConfig, which runs it and names it in errors.

func init() {
	debughook.NewOption = func(f func(*debughook.Settings)) any {
		return optionFunc(func(c *config) {
			if c.debug == nil {
				c.debug = new(debughook.Settings)
			}
			f(c.debug)
		})
	}
}

// taskConfig returns the settings of a task that Go, Spawn or Start — its
// only callers — start; in debug mode they include the task's record,
// which notes the spawn site.
func (n *Nursery) taskConfig(opts []TaskOption) *taskConfig {
	tc := newTaskConfig(opts)
	if debugBuild && n.dbg != nil {
		if tc == nil {
			tc = new(taskConfig)
		}
		tc.dbg = n.dbg.Task(tc.name)
	}
	return tc
}

// debugInfo returns the task's debug-mode record, or nil.
func (tc *taskConfig) debugInfo() debughook.Task {
	if !debugBuild || tc == nil {
		return nil
	}
	return tc.dbg
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
	if inner := asTaskError(te.Err); inner != nil && inner.origin != nil && inner.origin.Within(t) {
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
