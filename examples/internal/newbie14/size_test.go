package newbie14

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The README: "the root package links neither net/http, encoding/json,
// log/slog nor runtime/pprof (...) a minimal nursery.Run program stays
// within 10 % of the same program written with context and sync.WaitGroup".
func TestLeanCoreDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("go list")
	}
	for _, pkg := range []string{"./cmd/minimal", "github.com/structured-go/nursery"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		deps := strings.Fields(string(out))
		for _, banned := range []string{"net/http", "encoding/json", "log/slog", "runtime/pprof", "net", "runtime/trace"} {
			if slices.Contains(deps, banned) {
				t.Errorf("%s links %s", pkg, banned)
			}
		}
		// Control: the check can see a package, and the debug packages do link slog.
		if !slices.Contains(deps, "context") {
			t.Fatalf("%s: go list -deps lacks context: %v", pkg, deps)
		}
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/structured-go/nursery/nurserydebug").CombinedOutput()
	if err != nil || !slices.Contains(strings.Fields(string(out)), "log/slog") {
		t.Errorf("nurserydebug should link log/slog (control): %v", err)
	}
}

func TestLeanCoreSize(t *testing.T) {
	if testing.Short() {
		t.Skip("go build")
	}
	dir := t.TempDir()
	size := func(pkg, ldflags string) int64 {
		bin := filepath.Join(dir, filepath.Base(pkg)+".bin")
		out, err := exec.Command("go", "build", "-ldflags="+ldflags, "-o", bin, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	for _, flags := range []string{"", "-s -w"} {
		wg, n := size("./cmd/wg", flags), size("./cmd/minimal", flags)
		pct := float64(n)/float64(wg)*100 - 100
		t.Logf("ldflags=%q: context+WaitGroup %d B, nursery.Run %d B: %+.1f%%", flags, wg, n, pct)
		if pct > 10 {
			t.Errorf("ldflags=%q: nursery.Run program is %.1f%% larger than the WaitGroup one (README: within 10%%)", flags, pct)
		}
	}
}
