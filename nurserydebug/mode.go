package nurserydebug

import (
	"os"
	"strconv"
	"sync"

	"github.com/structured-go/nursery/internal/debughook"
	"github.com/structured-go/nursery/internal/live"
)

func init() {
	debughook.Mode = mode{}
	if env() {
		debughook.Active.Store(true)
	}
}

// mode is debug mode as the core sees it.
type mode struct{}

// env reports whether the environment variable NURSERY_DEBUG turns debug
// mode on for every nursery. It is read once, when the package is
// initialized.
var env = sync.OnceValue(func() bool {
	on, _ := strconv.ParseBool(os.Getenv("NURSERY_DEBUG"))
	return on
})

func (mode) Wants(s *debughook.Settings, up *live.Node) bool {
	return s != nil && s.On || up != nil && up.Debug || env()
}

func (mode) Nursery(a debughook.Args) debughook.Nursery {
	// From now on a nursery may be created inside a debug-mode one — in
	// its tasks or from its context, even after its Wait — so New must look
	// (debughook.Active). Until then, a program that links debug mode but
	// does not use it pays one atomic load per New.
	if !debughook.Active.Load() {
		debughook.Active.Store(true)
	}
	return newNursery(a)
}
