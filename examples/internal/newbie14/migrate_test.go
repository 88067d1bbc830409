package newbie14

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// oldProgram is written against the API before the lean core (CHANGELOG,
// "A lean core: views and debug mode beside it").
const oldProgram = `package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/structured-go/nursery"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	web := httptest.NewServer(nursery.Handler())
	defer web.Close()
	block := make(chan struct{})
	started := make(chan struct{})
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { close(started); <-block; return nil }, nursery.Name("worker"))
		<-started
		fmt.Println("--- WriteTree")
		if err := nursery.WriteTree(os.Stdout); err != nil {
			return err
		}
		b, err := nursery.TreeJSON()
		if err != nil {
			return err
		}
		fmt.Println("--- TreeJSON", strings.Contains(string(b), "\"worker\""))
		resp, err := http.Get(web.URL + "?format=json")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println("--- Handler json", strings.Contains(string(body), "\"worker\""))
		close(block)
		return nil
	}, nursery.WithName("old"), nursery.Debug(), nursery.DebugLogger(logger), nursery.DebugSlow(time.Minute))
	fmt.Println("--- err", err)
}
`

// migrate applies the CHANGELOG's migration notes, and nothing else.
func migrate(src string) string {
	src = strings.NewReplacer(
		"nursery.WriteTree(", "nurserytree.Write(",
		"nursery.TreeJSON()", "nurserytree.JSON()",
		"nursery.Handler()", "nurserytree.Handler()",
		"nursery.Debug()", "nurserydebug.On()",
		"nursery.DebugLogger(", "nurserydebug.Logger(",
		"nursery.DebugSlow(", "nurserydebug.Slow(",
	).Replace(src)
	// "Import github.com/structured-go/nursery/nurserytree" / ".../nurserydebug".
	return strings.Replace(src, `	"github.com/structured-go/nursery"
`, `	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
`, 1)
}

// tempProgram writes src as main.go of a new module that depends on the
// library through a replace, as the README says, and returns its directory.
func tempProgram(t *testing.T, src string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/structured-go/nursery").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	lib := strings.TrimSpace(string(out))
	dir := filepath.Join(t.TempDir(), "oldapi") // debug sites name the directory: oldapi/main.go:N
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mod := "module oldapi\n\ngo 1.26.0\n\nrequire github.com/structured-go/nursery v0.0.0\n\nreplace github.com/structured-go/nursery => " + lib + "\n"
	for name, text := range map[string]string{"go.mod": mod, "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func goIn(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off"), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestMigrateOldAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("go build")
	}
	// The old program no longer builds: every old name is gone.
	out, err := goIn(tempProgram(t, oldProgram), nil, "build", "-o", os.DevNull, ".")
	if err == nil {
		t.Fatal("the old API still builds; the CHANGELOG's moves did not happen")
	}
	for _, name := range []string{"Handler", "WriteTree", "TreeJSON", "Debug", "DebugLogger", "DebugSlow"} {
		if !strings.Contains(out, "undefined: nursery."+name) {
			t.Errorf("old build error does not mention nursery.%s:\n%s", name, out)
		}
	}

	// Migrated by the CHANGELOG's notes only, it builds and behaves as before.
	out, err = goIn(tempProgram(t, migrate(oldProgram)), nil, "run", ".")
	if err != nil {
		t.Fatalf("migrated program: %v\n%s", err, out)
	}
	t.Logf("migrated program:\n%s", out)
	for _, want := range []string{
		"--- WriteTree\nnursery \"old\": running, age ",
		"  task \"worker\": running, age ",                             // debug mode still shows tasks
		"created at oldapi/main.go:25", "spawned at oldapi/main.go:26", // the two added imports moved the lines down by 2
		"--- TreeJSON true",
		"--- Handler json true",
		"--- err <nil>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("migrated output lacks %q", want)
		}
	}
}

// A program debugged only with NURSERY_DEBUG=1 must import nurserydebug
// (CHANGELOG): without it the variable does nothing, with it debug mode is on.
func TestMigrateEnvDebug(t *testing.T) {
	if testing.Short() {
		t.Skip("go run")
	}
	const prog = `package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/structured-go/nursery"
	//IMPORT
)

func main() {
	fmt.Println(nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errors.New("boom") }, nursery.Name("t"))
		return nil
	}, nursery.WithName("p")))
}
`
	env := []string{"NURSERY_DEBUG=1"}
	out, err := goIn(tempProgram(t, prog), env, "run", ".")
	if err != nil || strings.TrimSpace(out) != "p: t: boom" {
		t.Errorf("without the import: %v %q, want the plain error", err, out)
	}
	withImport := strings.Replace(prog, "//IMPORT", `_ "github.com/structured-go/nursery/nurserydebug"`, 1)
	out, err = goIn(tempProgram(t, withImport), env, "run", ".")
	if err != nil || strings.TrimSpace(out) != "p/t [oldapi/main.go:14]: boom" {
		t.Errorf("with the import: %v %q, want path and site", err, out)
	}
}
