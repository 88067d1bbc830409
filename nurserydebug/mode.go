package nurserydebug

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/structured-go/nursery/internal/debughook"
	"github.com/structured-go/nursery/internal/live"
)

func init() {
	debughook.Mode = mode{}
}

// mode is debug mode as the core sees it.
type mode struct{}

// env reports whether the environment variable NURSERY_DEBUG turns debug
// mode on for every nursery. It is read once, at the first New.
var env = sync.OnceValue(func() bool {
	on, _ := strconv.ParseBool(os.Getenv("NURSERY_DEBUG"))
	return on
})

// used says that a debug-mode nursery was created: until then no nursery
// can be created inside one — in its tasks or from its context, even after
// its Wait — and New need not look, so that a program that links debug
// mode but does not use it pays one atomic load per New.
var used atomic.Bool

func (mode) Active() bool { return used.Load() || env() }

func (mode) Wants(s *debughook.Settings, up *live.Node) bool {
	return s != nil && s.On || up != nil && up.Debug || env()
}

func (mode) Nursery(a debughook.Args) debughook.Nursery {
	if !used.Load() {
		used.Store(true)
	}
	return newNursery(a)
}
