package newbie14

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytest"
)

// site returns "newbie14/<file>:<line>" of the line in file with the comment
// "// marker", the
// form debug mode uses ("server/main.go:18").
func site(t *testing.T, file, marker string) string {
	t.Helper()
	return siteIn(t, "newbie14", file, marker)
}

// siteIn is site with the directory name dir instead of "newbie14".
func siteIn(t *testing.T, dir, file, marker string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.Contains(sc.Text(), "// "+marker) {
			return fmt.Sprintf("%s/%s:%d", dir, filepath.Base(file), line)
		}
	}
	t.Fatalf("no %q in %s", marker, file)
	return ""
}

// syncBuf is a bytes.Buffer safe for the library's goroutines to log into.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A real connection's failure, in debug mode, names the task's path and the
// line of server.go that spawned it.
func TestDebugServerErrorNamesPathAndSite(t *testing.T) {
	defer nurserytest.VerifyNone(t)
	bg := nursery.New(context.Background(), nursery.WithName("test"))
	s := startServer(t, bg, nurserydebug.On())
	c := dial(t, s.Addr)
	defer c.Close()
	c.roundTrip(t, "hi")
	fmt.Fprintln(c, "fail")
	err := bg.Wait() // the failure of conn-1 fails server, then test
	if err == nil {
		t.Fatal("no error")
	}
	want := "server/handle-conn-1/conn-1/write [" + site(t, "server.go", "site:write") + "]: client asked for a failure"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
	}
	var te *nursery.TaskError
	if !errors.As(err, &te) {
		t.Errorf("no *TaskError in %v", err)
	}
}

func TestDebugPanicNamesPathAndSite(t *testing.T) {
	defer func() {
		r := recover()
		pe, ok := r.(*nursery.PanicError)
		if !ok {
			t.Fatalf("recovered %T %v, want *nursery.PanicError", r, r)
		}
		want := `panic in task "parse" of nursery "server" (server/parse, spawned at ` +
			site(t, "debug_test.go", "site:parse") + `): runtime error: index out of range [3] with length 0`
		if !strings.HasPrefix(pe.Error(), want) {
			t.Errorf("panic message:\n%s\nwant prefix:\n%s", pe.Error(), want)
		}
		if pe.Task != "parse" || !strings.Contains(string(pe.Stack), "debug_test.go") {
			t.Errorf("Task %q, stack without the panicking line:\n%s", pe.Task, pe.Stack)
		}
	}()
	var empty []int
	i := 3
	nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { // site:parse
			_ = empty[i]
			return nil
		}, nursery.Name("parse"))
		return nil
	}, nursery.WithName("server"), nurserydebug.On())
	t.Fatal("Run returned instead of panicking")
}

// Outside debug mode the same failure has no path and no site.
func TestNoDebugNoSite(t *testing.T) {
	if os.Getenv("NURSERY_DEBUG") != "" {
		t.Skip("NURSERY_DEBUG is set")
	}
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errors.New("reset") }, nursery.Name("read"))
		return nil
	}, nursery.WithName("server"))
	if got := err.Error(); got != "server: read: reset" {
		t.Errorf("error %q, want %q", got, "server: read: reset")
	}
}

// On reaches nurseries created inside the nursery's tasks.
func TestDebugInherited(t *testing.T) {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			return nursery.Run(ctx, func(c *nursery.Nursery) error {
				c.Go(func(ctx context.Context) error { return errors.New("reset") }, nursery.Name("read")) // site:inherited
				return nil
			}, nursery.WithName("conn-17"))
		}, nursery.Name("handle"))
		return nil
	}, nursery.WithName("server"), nurserydebug.On())
	want := "server/handle/conn-17/read [" + site(t, "debug_test.go", "site:inherited") + "]: reset"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to contain %q", err, want)
	}
}

var slowRe = regexp.MustCompile(`level=WARN msg="nursery: slow task" task=(\S+) spawned=(\S+) running=(\S+)`)

// Slow tasks and Waits are reported once, through the given logger, under
// fake time.
func TestDebugSlowReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuf
		l := slog.New(slog.NewTextHandler(&buf, nil))
		start := time.Now()
		err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(c *nursery.Nursery) error { // site:slowconn
					c.Go(func(ctx context.Context) error { // site:slowread
						time.Sleep(25 * time.Second) // fake time
						return nil
					}, nursery.Name("read"))
					c.Go(func(ctx context.Context) error { return nil }, nursery.Name("quick"))
					return nil
				}, nursery.WithName("conn-17"))
			}, nursery.Name("handle"))
			return nil
		}, nursery.WithName("server"), nurserydebug.On(), nurserydebug.Slow(10*time.Second), nurserydebug.Logger(l))
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 25*time.Second {
			t.Errorf("fake time passed %v, want 25s", d)
		}
		out := buf.String()
		t.Logf("log:\n%s", out)
		var tasks []string
		for _, m := range slowRe.FindAllStringSubmatch(out, -1) {
			tasks = append(tasks, m[1])
			if m[1] == "server/handle/conn-17/read" {
				if want := site(t, "debug_test.go", "site:slowread"); m[2] != want {
					t.Errorf("read spawned=%s, want %s", m[2], want)
				}
				if m[3] != "10s" {
					t.Errorf("read running=%s, want 10s", m[3])
				}
			}
		}
		// read and handle are slow, once each (25 s is > 2×10 s); quick is not.
		if strings.Join(tasks, ",") != "server/handle,server/handle/conn-17/read" &&
			strings.Join(tasks, ",") != "server/handle/conn-17/read,server/handle" {
			t.Errorf("slow tasks reported: %q, want handle and read once each", tasks)
		}
		wantWait := `msg="nursery: slow Wait" nursery=server/handle/conn-17 created=` + site(t, "debug_test.go", "site:slowconn") +
			` blocked=10s running="server/handle/conn-17/read (spawned at ` + site(t, "debug_test.go", "site:slowread") + `, running for 10s)"`
		if !strings.Contains(out, wantWait) {
			t.Errorf("no slow Wait line like\n%s", wantWait)
		}
		if c := strings.Count(out, `msg="nursery: slow Wait"`); c != 2 {
			t.Errorf("%d slow Wait reports, want 2 (server and conn-17)", c)
		}
	})
}

// Slow(0) turns the reports off.
func TestDebugSlowOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuf
		l := slog.New(slog.NewTextHandler(&buf, nil))
		nursery.Run(context.Background(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error { time.Sleep(time.Minute); return nil })
			return nil
		}, nurserydebug.On(), nurserydebug.Slow(0), nurserydebug.Logger(l))
		if buf.String() != "" {
			t.Errorf("Slow(0) still reported:\n%s", buf.String())
		}
	})
}

// The default threshold is 10 s and the default logger is slog.Default().
func TestDebugSlowDefaults(t *testing.T) {
	var buf syncBuf
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	synctest.Test(t, func(t *testing.T) {
		nursery.Run(context.Background(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error { time.Sleep(9 * time.Second); return nil }, nursery.Name("nine"))
			n.Go(func(ctx context.Context) error { time.Sleep(11 * time.Second); return nil }, nursery.Name("eleven"))
			return nil
		}, nursery.WithName("d"), nurserydebug.On())
	})
	out := buf.String()
	if !strings.Contains(out, "task=d/eleven") || strings.Contains(out, "task=d/nine") {
		t.Errorf("default threshold is not 10 s, or not slog.Default():\n%s", out)
	}
}

// A nursery from New in debug mode that becomes unreachable without Wait is
// reported when the garbage collector finds it.
func TestDebugNeverWaited(t *testing.T) {
	var buf syncBuf
	l := slog.New(slog.NewTextHandler(&buf, nil))
	func() {
		_ = nursery.New(context.Background(), nursery.WithName("jobs"), nurserydebug.On(), nurserydebug.Logger(l)) // site:jobs
	}()
	want := `level=ERROR msg="nursery: a Nursery became unreachable without Wait" nursery=jobs created=` + site(t, "debug_test.go", "site:jobs")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("never reported; log:\n%s\nwant:\n%s", buf.String(), want)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// A waited nursery is not reported as never waited.
func TestDebugWaitedNotReported(t *testing.T) {
	var buf syncBuf
	l := slog.New(slog.NewTextHandler(&buf, nil))
	func() {
		n := nursery.New(context.Background(), nursery.WithName("jobs"), nurserydebug.On(), nurserydebug.Logger(l))
		n.Wait()
	}()
	for range 5 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if buf.String() != "" {
		t.Errorf("a waited nursery was reported:\n%s", buf.String())
	}
}

// NURSERY_DEBUG=1 in a test binary using nurserytest: re-run this binary.
func TestDebugEnvInTestBinary(t *testing.T) {
	if os.Getenv("NEWBIE14_HELPER") == "1" {
		err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error { return errors.New("reset") }, nursery.Name("read")) // site:env
			return nil
		}, nursery.WithName("server"))
		fmt.Printf("ERR=%v\n", err)
		return
	}
	for _, env := range []string{"1", ""} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDebugEnvInTestBinary$", "-test.count=1")
		cmd.Env = append(os.Environ(), "NEWBIE14_HELPER=1", "NURSERY_DEBUG="+env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("NURSERY_DEBUG=%q: %v\n%s", env, err, out)
		}
		withSite := "ERR=server/read [" + site(t, "debug_test.go", "site:env") + "]: reset"
		plain := "ERR=server: read: reset"
		want := plain
		if env == "1" {
			want = withSite
		}
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("NURSERY_DEBUG=%q: output\n%s\nwant line %q", env, out, want)
		}
	}
}

// NURSERY_DEBUG=1 with go run: works when the program imports nurserydebug,
// does nothing when it imports only the core (README: "in any program that
// imports nurserydebug or nurserytree").
func TestDebugEnvGoRun(t *testing.T) {
	if testing.Short() {
		t.Skip("go run")
	}
	run := func(pkg string) string {
		cmd := exec.Command("go", "run", pkg)
		cmd.Env = append(os.Environ(), "NURSERY_DEBUG=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go run %s: %v\n%s", pkg, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	want := "server/read [" + strings.Replace(site(t, "cmd/envdebug/main.go", "site:envdebug"), "newbie14/", "envdebug/", 1) + "]: connection reset"
	if got := run("./cmd/envdebug"); got != want {
		t.Errorf("envdebug: %q, want %q", got, want)
	}
	if got := run("./cmd/envnodebug"); got != "server: read: connection reset" {
		t.Errorf("envnodebug: %q, want the plain error", got)
	}
}
