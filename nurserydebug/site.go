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

// corePath is package nursery's import path; frames in it and its
// subpackages (outside tests) are skipped when finding a site, so that a
// nursery made by Run or Map and a task started by Go show the user's line.
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

func (s *site) resolve() runtime.Frame {
	frames := runtime.CallersFrames(s.pcs[:s.n])
	for {
		f, more := frames.Next()
		if !internal(f) || !more {
			return f
		}
	}
}

// internal reports whether f is a frame of the core or of debug mode.
func internal(f runtime.Frame) bool {
	if strings.HasSuffix(f.File, "_test.go") {
		return false
	}
	for _, pkg := range [...]string{corePath, corePath + "/nurserydebug"} {
		if rest, ok := strings.CutPrefix(f.Function, pkg); ok && strings.HasPrefix(rest, ".") {
			return true
		}
	}
	return false
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
