package newbie14

import (
	"testing"

	"github.com/structured-go/nursery/nurserytest"
)

func TestMain(m *testing.M) {
	nurserytest.VerifyTestMain(m)
}
