// Package nurserytest checks, at the end of a test or of a test binary,
// that no nursery is still open and no goroutine has leaked. It wraps
// go.uber.org/goleak (whose options it passes through) and adds the one
// check goleak cannot make: when a nursery ([github.com/structured-go/nursery.Nursery]) was never waited, it
// prints the tree of open nurseries and their tasks ([nurserytree.Write])
// instead of the raw stacks of their goroutines. Importing it turns the
// tree on (see nurserytree) for the test binary, and with it
// NURSERY_DEBUG=1.
//
// The setup is one line in TestMain:
//
//	func TestMain(m *testing.M) {
//		nurserytest.VerifyTestMain(m)
//	}
//
// or, at the end of one test, defer nurserytest.VerifyNone(t). Run the
// tests with NURSERY_DEBUG=1 to see each open nursery's tasks with their
// ages and the lines that started them.
package nurserytest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/structured-go/nursery/internal/live"
	"github.com/structured-go/nursery/nurserytree"
)

// VerifyTestMain runs the tests of m (a *testing.M), then fails the test
// binary if a nursery is still open, printing the tree of open nurseries to
// standard error, and otherwise runs goleak.VerifyTestMain's check for
// leaked goroutines with opts. Like goleak, it checks only when the tests
// passed, and it exits the process. Call it from TestMain.
func VerifyTestMain(m goleak.TestingM, opts ...goleak.Option) {
	goleak.VerifyTestMain(testMain{m}, opts...)
}

// testMain runs the tests and then the nursery check, so that goleak sees
// the check's failure as the tests' and skips printing goroutine stacks.
type testMain struct{ m goleak.TestingM }

func (t testMain) Run() int {
	code := t.m.Run()
	if code != 0 {
		return code
	}
	if tree, open := openNurseries(); open {
		fmt.Fprintf(os.Stderr, "nurserytest: errors on successful test run: %s", tree)
		return 1
	}
	return 0
}

// VerifyNone marks t failed if a nursery is still open, with the tree of
// open nurseries in the message, and otherwise if goroutines have leaked,
// as goleak.VerifyNone(t, opts...) does. The tasks of an open nursery are
// leaked goroutines too: their stacks are left out so that the tree is what
// one reads first. Like goleak.VerifyNone, it sees every nursery and
// goroutine of the process, so it does not suit tests run in parallel.
func VerifyNone(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	if tree, open := openNurseries(); open {
		t.Errorf("nurserytest: %s", tree)
		// Still run goleak for the options that act at its end (such as
		// goleak.Cleanup); what it finds includes the nurseries' tasks.
		goleak.VerifyNone(silent{}, opts...)
		return
	}
	goleak.VerifyNone(t, opts...)
}

// silent is a goleak.TestingT that drops what goleak reports.
type silent struct{}

func (silent) Error(...any) {}

// Retries, as goleak makes them: a nursery whose Wait is returning in
// another goroutine as the test ends gets a moment to close.
const (
	retries  = 20
	maxSleep = 100 * time.Millisecond
)

// openNurseries waits a little for open nurseries to close; if some stay
// open, it returns a message with their tree.
func openNurseries() (msg string, open bool) {
	sleep := time.Microsecond
	for i := 0; ; i++ {
		if live.Len() == 0 {
			return "", false
		}
		if i == retries {
			break
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, maxSleep)
	}
	var tree strings.Builder
	if err := nurserytree.Write(&tree); err != nil {
		return err.Error() + "\n", true
	}
	n := live.Len()
	what := "nurseries are"
	if n == 1 {
		what = "nursery is"
	}
	return fmt.Sprintf("%d %s still open (created and not waited):\n%s", n, what, tree.String()), true
}
