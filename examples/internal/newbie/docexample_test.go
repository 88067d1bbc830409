package newbie

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/structured-go/nursery"
)

var errDBDown = errors.New("db down")

// The package example in doc.go, verbatim in shape: a body that Spawns,
// Waits on the Task and returns its error. A new user expects Run to report
// the one failure once.
func TestDocExampleSpawnWaitReportsOnce(t *testing.T) {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		users := nursery.Spawn(n, func(ctx context.Context) ([]string, error) {
			return nil, errDBDown
		}, nursery.Name("users"))
		list, err := users.Wait()
		if err != nil {
			return err
		}
		_ = list
		return nil
	}, nursery.WithName("app"))
	t.Logf("Run error: %q", err)
	if !errors.Is(err, errDBDown) {
		t.Fatalf("err = %v", err)
	}
	if c := strings.Count(err.Error(), "db down"); c != 1 {
		t.Errorf("one failure is reported %d times:\n%v", c, err)
	}
}
