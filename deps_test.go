package nursery_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreDependencies holds the core to what it needs: the views of the
// live tree (nurserytree) and debug mode (nurserydebug) sit beside it, so a
// program that only runs nurseries links none of HTTP, JSON, structured
// logging or profiling. scripts/size.sh measures what that saves.
func TestCoreDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %q", deps)
	}
	forbidden := []string{
		"net/http",
		"encoding/json",
		"log/slog",
		"runtime/pprof",
		"github.com/structured-go/nursery/nurserytree",
		"github.com/structured-go/nursery/nurserydebug",
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f {
				t.Errorf("the root package depends on %s", dep)
			}
		}
	}
}
