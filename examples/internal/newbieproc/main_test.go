package newbieproc

import (
	"testing"

	"github.com/structured-go/nursery/subprocess"
	"go.uber.org/goleak"
)

// The docs: "Main must be the first call in main, and in TestMain of tests
// that start pools."
func TestMain(m *testing.M) {
	subprocess.Main()
	goleak.VerifyTestMain(m)
}
