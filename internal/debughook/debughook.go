// Package debughook is the one seam between package nursery and debug mode
// (package nurserydebug). The core calls debug mode only through the
// interfaces here, and only for nurseries in debug mode: a nursery outside
// it holds a nil Nursery and pays one nil check where debug mode would act.
// A program that does not import nurserydebug links none of debug mode's
// code (log/slog, runtime/pprof, runtime/trace).
package debughook

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery/internal/live"
)

// Mode is debug mode, installed by nurserydebug's init; nil until then.
var Mode Debugger

// Active says that a nursery without debug options may be in debug mode:
// the environment turns it on for every nursery, or some debug-mode
// nursery was made, inside which others may be created. Only then does
// New look up the scope of its parent context. Debug mode sets it; a
// plain flag rather than a method of Mode, as every New reads it.
var Active atomic.Bool

// NewOption makes a nursery.Option that applies f to the nursery's debug
// settings; package nursery installs it in its init. (It returns any so
// that this package need not import nursery.)
var NewOption func(f func(*Settings)) any

// Settings are what nurserydebug's options set on a nursery.
type Settings struct {
	On     bool          // debug mode is on for the nursery
	Logger any           // a *slog.Logger, or nil: inherited or slog.Default()
	Slow   time.Duration // 0: inherited or the default; < 0: no reports
}

// Args describe a nursery being created in debug mode.
type Args struct {
	Parent   context.Context // the context given to New
	Up       *live.Node      // the nursery it is created in, or nil
	UpTask   any             // the debug-mode task it is created in, or nil
	Name     string
	Status   func() string // WithStatus, or nil
	Settings *Settings     // nil if no debug option was given
	// Count is the word that holds the nursery's number of tasks (started
	// and not finished, queued ones included) in its bits CountMask, as
	// the tree shows it. Debug mode must keep only a weak pointer to it:
	// a strong one would keep the nursery reachable, and its leak report
	// needs a nursery never waited to become unreachable. (Made here
	// rather than in the core, so that programs without debug mode do not
	// link package weak.)
	Count     *atomic.Uint64
	CountMask uint64
}

// Debugger decides which nurseries are in debug mode and starts them.
type Debugger interface {
	// Wants reports whether a nursery with settings s (nil: none), created
	// under up, is in debug mode.
	Wants(s *Settings, up *live.Node) bool
	// Nursery starts a debug-mode nursery. Its caller is nursery.New.
	Nursery(a Args) Nursery
}

// Nursery is a debug-mode nursery's state.
type Nursery interface {
	// Context returns the context the nursery's own context derives from.
	Context() context.Context
	// Track arms the reports about the nursery n (one never waited) once
	// its context ctx exists, and registers it in the live tree.
	Track(n any, ctx context.Context)
	// WaitStarted notes that Wait has been called.
	WaitStarted()
	// Done notes that Wait has finished.
	Done()
	// Task records a task being started; its caller is the core's function
	// that Go, Spawn and Start call (the spawn site is above it).
	Task(name string) Task
}

// Task is a debug-mode task's record.
type Task interface {
	// Begin starts the task: registered among the nursery's running tasks,
	// watched for slowness, under pprof labels and trace regions; it
	// returns the context the task runs with. alone, if not nil, tells
	// whether Task.Cancel cancelled the task. End, deferred by the caller,
	// ends it however the task ends.
	Begin(ctx context.Context, alone *atomic.Bool) context.Context
	End()
	// Path is the task's path, "" if no name on it.
	Path() string
	// Site is where the task was spawned, as dir/file.go:line.
	Site() string
	// Within reports whether the task runs in a nursery created, at any
	// depth, inside the task outer.
	Within(outer Task) bool
}
