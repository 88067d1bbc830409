// Package newbie holds small programs written by a new user of the nursery
// library from its documentation alone, as tests.
package newbie

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
