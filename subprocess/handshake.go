package subprocess

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// A worker proves at start-up that it is the same build of the program as
// its parent: its hello frame carries the protocol version (as its ID) and
// a fingerprint of what it can serve, which the parent compares with its
// own. On Linux the parent re-executes /proc/self/exe, which is its own
// binary even if the file was replaced; elsewhere it runs the file at its
// path, which a deployment may have replaced with another version.
//
// The fingerprint covers the Go version, the main module's path, version
// and version-control revision (when the build recorded them), the
// registered functions with their input and result types, and the
// registered error names. Two builds from the same revision with the same
// registry pass, even if uncommitted changes differ in code that does not
// register anything (vcs.modified only says that there were some). It is
// taken once, when Main (or NewPool) first asks for it: in both processes
// that is after package initialization, which is when registration must
// happen.
var fingerprint = sync.OnceValue(func() string {
	h := sha256.New()
	fmt.Fprintf(h, "protocol %d\n%s\n", protoVersion, runtime.Version())
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(h, "main %s %s %s\n", bi.Main.Path, bi.Main.Version, bi.Main.Sum)
		for _, s := range bi.Settings {
			if strings.HasPrefix(s.Key, "vcs.") {
				fmt.Fprintf(h, "%s=%s\n", s.Key, s.Value)
			}
		}
	}
	registry.RLock()
	names := make([]string, 0, len(registry.m))
	for name := range registry.m {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		hd := registry.m[name]
		fmt.Fprintf(h, "func %q %s %s\n", name, hd.inType, hd.outType)
	}
	registry.RUnlock()
	errorRegistry.RLock()
	errs := slices.Sorted(slices.Values(errorRegistry.names))
	errorRegistry.RUnlock()
	for _, name := range errs {
		fmt.Fprintf(h, "error %q\n", name)
	}
	return fmt.Sprintf("%s, %d functions, %d errors, %x", runtime.Version(), len(names), len(errs), h.Sum(nil)[:8])
})

// checkHello checks a worker's first frame.
func checkHello(f frame) error {
	if f.kind != kindHello || f.id != protoVersion {
		return fmt.Errorf("speaks another protocol (first frame of kind %d, version %d; want kind %d, version %d): it is another build of the program", f.kind, f.id, kindHello, protoVersion)
	}
	if got, want := string(f.payload), fingerprint(); got != want {
		return fmt.Errorf("is another build of the program (%s; this process: %s): its Go version, version-control revision, registered functions, their types or registered errors differ; restart the program from the binary it should run", sanitize(got), want)
	}
	return nil
}

// sanitize makes text from a worker fit for an error message.
func sanitize(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < ' ' {
			return '?'
		}
		return r
	}, s), "?")
}
