package nurserydebug

import (
	"log/slog"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/internal/debughook"
)

// On turns on debug mode for the nursery and for every nursery created
// inside its tasks or from its context (as does the environment variable
// NURSERY_DEBUG=1 for every nursery of a program that imports this
// package, read once). In debug mode:
//
//   - each task records its spawn site (the file and line that called Go,
//     Spawn or Start) and its path, the names of its nurseries and tasks
//     from the top of the tree ("server/conn-17/read"); Wait's errors and
//     *[nursery.PanicError] messages name both;
//   - tasks run under the pprof labels "nursery" and "task" (see
//     runtime/pprof.Do), so CPU profiles and goroutine dumps group by task,
//     and, while an execution trace is being recorded, inside runtime/trace
//     tasks and regions, so that go tool trace shows the tree;
//   - a task that runs longer than a threshold, or a Wait blocked longer
//     than it, is reported once through log/slog with the tasks still
//     running (see [Slow] and [Logger]);
//   - a nursery made with [nursery.New] that becomes unreachable without
//     Wait having been called is reported, with its creation site, when the
//     garbage collector finds it;
//   - the live tree (package nurserytree) shows each task with its state,
//     age and spawn site, and each nursery with its age and creation site.
//
// Debug mode costs about 3 µs and seven allocations per task, and about
// 5 µs per nursery (the bench module's Debug family measures it); without
// it none of this is recorded, and a nursery outside debug mode pays one
// nil check where debug mode would act. Once a program has made a nursery
// in debug mode, every New looks up its parent context to find whether it
// is created inside one (a context Value walk). In debug mode, tasks
// receive a context derived from the nursery's (it carries the labels),
// not the nursery's own.
func On() nursery.Option {
	return option(func(s *debughook.Settings) { s.On = true })
}

// Logger sets where debug mode reports slow tasks, slow Waits and
// nurseries never waited; the default is slog.Default() at the time of the
// report. Nurseries created inside the nursery's tasks inherit it. It does
// not turn debug mode on. Logger panics if l is nil.
func Logger(l *slog.Logger) nursery.Option {
	if l == nil {
		panic("nurserydebug: nil Logger")
	}
	return option(func(s *debughook.Settings) { s.Logger = l })
}

// Slow sets how long a task may run, or Wait stay blocked, before debug
// mode reports it (once); the default is 10 seconds, and d <= 0 turns the
// reports off. Nurseries created inside the nursery's tasks inherit it. It
// does not turn debug mode on.
func Slow(d time.Duration) nursery.Option {
	if d <= 0 {
		d = -1
	}
	return option(func(s *debughook.Settings) { s.Slow = d })
}

func option(f func(*debughook.Settings)) nursery.Option {
	return debughook.NewOption(f).(nursery.Option)
}
