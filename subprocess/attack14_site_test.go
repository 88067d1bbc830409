package subprocess_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/subprocess"
)

var attack14Fail = subprocess.Register("attack14.fail", func(_ context.Context, msg string) (int, error) {
	return 0, errors.New(msg)
})

// In debug mode a task's spawn site is "the file and line that called Go,
// Spawn or Start" (nurserydebug.On), and site.go's comment promises that
// frames of package nursery "and its subpackages" are skipped so that the
// user's line shows. Func.Spawn is such a subpackage frame, yet the site
// named is subprocess/func.go, not the caller of Func.Spawn.
//
// Failed, and was fixed: the debug-mode spawn site of subprocess.Func.Spawn
// was subprocess/func.go:153, not the user's line.
func TestAttack14DebugSiteOfFuncSpawn(t *testing.T) {
	p, err := subprocess.NewPool(t.Context(), subprocess.Workers(1))
	require.NoError(t, err)
	defer func() { assert.NoError(t, p.Close()) }()
	n := nursery.New(t.Context(), nurserydebug.On(), nursery.WithName("s14"))
	_, file, line, _ := runtime.Caller(0)
	attack14Fail.Spawn(n, p, "remote boom")
	site := filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file) + ":" + fmt.Sprint(line+1)
	err = n.Wait()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "["+site+"]")
}
