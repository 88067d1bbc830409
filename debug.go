package nursery

import "github.com/structured-go/nursery/internal/debughook"

// Debug mode lives in package nurserydebug, beside the core: its options
// set the nursery's debughook.Settings, and New hands a nursery in debug
// mode to it (see enter), which returns the one hook the core then calls —
// n.cfg.dbg, nil outside debug mode. Each task of such a nursery carries a
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

// debugInfo returns the task's debug-mode record, or nil.
func (tc *taskConfig) debugInfo() debughook.Task {
	if !debugBuild || tc == nil {
		return nil
	}
	return tc.dbg
}
