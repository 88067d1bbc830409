package newbie14

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// goTestLeaky runs go test on ./leaky with NEWBIE14_LEAK=mode and returns
// its output; the run must fail (the leak) unless mode is "".
func goTestLeaky(t *testing.T, mode, debug string) string {
	t.Helper()
	cmd := exec.Command("go", "test", "-count=1", "./leaky")
	cmd.Env = append(os.Environ(), "NEWBIE14_LEAK="+mode, "NURSERY_DEBUG="+debug)
	out, err := cmd.CombinedOutput()
	if mode == "" && err != nil {
		t.Fatalf("clean run failed: %v\n%s", err, out)
	}
	if mode != "" && err == nil {
		t.Fatalf("NEWBIE14_LEAK=%s: the leak went unnoticed:\n%s", mode, out)
	}
	return string(out)
}

// The README's "In your tests" output:
//
//	nurserytest: errors on successful test run: 1 nursery is still open (created and not waited):
//	nursery "jobs": running, age 443.757ms, 1 task, created at pkg/pkg_test.go:16
//	  task "worker": running, age 443.618ms, spawned at pkg/pkg_test.go:17
func TestLeakTestMainMatchesREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("go test subprocess")
	}
	goTestLeaky(t, "", "")
	out := goTestLeaky(t, "testmain", "1")
	const age = `age [0-9.]+(ms|µs|s)`
	want := regexp.MustCompile(`(?m)^nurserytest: errors on successful test run: 1 nursery is still open \(created and not waited\):\n` +
		`nursery "jobs": running, ` + age + `, 1 task, created at ` + regexp.QuoteMeta(siteIn(t, "leaky", "leaky/leaky_test.go", "site:jobs")) + "\n" +
		`  task "worker": running, ` + age + `, spawned at ` + regexp.QuoteMeta(siteIn(t, "leaky", "leaky/leaky_test.go", "site:worker")) + "\n")
	if !want.MatchString(out) {
		t.Errorf("output does not match the README:\n%s", out)
	}
	if strings.Contains(out, "goroutine ") {
		t.Errorf("the tree should replace goroutine stacks:\n%s", out)
	}

	// Without NURSERY_DEBUG: the nursery, no tasks, a hint.
	out = goTestLeaky(t, "testmain", "")
	if !strings.Contains(out, "1 nursery is still open (created and not waited):\nnursery \"jobs\": running, 1 task\n") {
		t.Errorf("plain output:\n%s", out)
	}
}

func TestLeakVerifyNone(t *testing.T) {
	if testing.Short() {
		t.Skip("go test subprocess")
	}
	out := goTestLeaky(t, "verifynone", "1")
	if !strings.Contains(out, "--- FAIL: TestForgetsWaitVerifyNone") ||
		!strings.Contains(out, `nurserytest: 1 nursery is still open (created and not waited):`) ||
		!strings.Contains(out, `task "worker": running`) {
		t.Errorf("VerifyNone output:\n%s", out)
	}
	// A plain goroutine leak is still goleak's report.
	out = goTestLeaky(t, "goroutine", "")
	if !strings.Contains(out, "goleak: Errors on successful test run: found unexpected goroutines") ||
		!strings.Contains(out, "TestPlainGoroutineLeak") {
		t.Errorf("goroutine leak output:\n%s", out)
	}
}
