package nurserydebug

import (
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/internal/live"
)

// site is where a nursery was created or a task spawned: the return PCs of
// the first frames of the stack, resolved only when shown.
type site struct {
	pcs [8]uintptr // enough to get out of Gather, Map and Run
	n   int
}

// callers records the stack of the caller of the function that calls it.
func callers() site {
	var s site
	s.n = runtime.Callers(3, s.pcs[:])
	return s
}

// corePath is package nursery's import path; frames in it and the
// library's other packages (outside tests and examples) are skipped when
// finding a site, so that a nursery made by Run or Map and a task started
// by Go show the user's line.
var corePath = reflect.TypeFor[nursery.Nursery]().PkgPath()

// siteCache holds resolved sites by their PCs: resolving costs about a
// microsecond, and sites repeat (a loop spawns many tasks from one line).
// It stops growing at maxSites entries.
var siteCache struct {
	sync.RWMutex
	m map[[8]uintptr]runtime.Frame
}

const maxSites = 4096

// frame returns the first frame outside the library.
func (s *site) frame() (runtime.Frame, bool) {
	if s.n == 0 {
		return runtime.Frame{}, false
	}
	siteCache.RLock()
	f, ok := siteCache.m[s.pcs]
	siteCache.RUnlock()
	if ok {
		return f, true
	}
	f = s.resolve()
	siteCache.Lock()
	if siteCache.m == nil {
		siteCache.m = make(map[[8]uintptr]runtime.Frame)
	}
	if len(siteCache.m) < maxSites {
		siteCache.m[s.pcs] = f
	}
	siteCache.Unlock()
	return f, true
}

// resolve finds the user's frame: the first outside the library. A task
// that one of the library's packages starts on a goroutine of its own (a
// supervisor's child) has none in reach; then the site is the first frame
// of that package, outside the core and debug mode.
func (s *site) resolve() runtime.Frame {
	frames := runtime.CallersFrames(s.pcs[:s.n])
	var first, outsideCore runtime.Frame
	for i := 0; ; i++ {
		f, more := frames.Next()
		if !internal(f) {
			return f
		}
		if i == 0 {
			first = f
		}
		if outsideCore.PC == 0 && !core(f) {
			outsideCore = f
		}
		if !more {
			break
		}
	}
	if outsideCore.PC != 0 {
		return outsideCore
	}
	return first
}

// core reports whether f is a frame of package nursery or of debug mode.
func core(f runtime.Frame) bool {
	rest, ok := strings.CutPrefix(f.Function, corePath)
	return ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "/nurserydebug."))
}

// internal reports whether f is a frame of the library: the core or one of
// its packages (debug mode, subprocess, supervisor), but not its tests or
// examples, which are users' code. So a task that subprocess's Func.Spawn
// or a supervisor starts is sited where the user called them.
func internal(f runtime.Frame) bool {
	if strings.HasSuffix(f.File, "_test.go") {
		return false
	}
	rest, ok := strings.CutPrefix(f.Function, corePath)
	switch {
	case !ok:
		return false
	case strings.HasPrefix(rest, "."):
		return true
	}
	return strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "/examples/")
}

// String returns the site as dir/file.go:line.
func (s *site) String() string {
	f, ok := s.frame()
	if !ok {
		return "unknown"
	}
	return live.ShortFile(f.File) + ":" + strconv.Itoa(f.Line)
}

func (s *site) tree() *live.Site {
	f, ok := s.frame()
	if !ok {
		return nil
	}
	return &live.Site{Function: f.Function, File: f.File, Line: f.Line}
}
