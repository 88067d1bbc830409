package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, t.TempDir()))
	assert.Equal(t, `alpha: alpha-1.txt=5 alpha-2.txt=10 alpha-3.txt=15 (30 bytes)
beta: beta-1.txt=4 beta-2.txt=8 beta-3.txt=12 (24 bytes)
pool closed: 0 workers left
`, out.String())
}

func TestMissingFileNamesRequestAndIndex(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, writeFiles(dir))
	require.NoError(t, os.Remove(filepath.Join(dir, "beta-2.txt")))

	pool := nursery.NewPool(2)
	t.Cleanup(func() { require.NoError(t, pool.Close()) })
	report, err := handle(t.Context(), pool, dir, "beta")
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "beta: index 1: ")
	assert.Empty(t, report)

	// The other request on the same pool is unaffected.
	report, err = handle(t.Context(), pool, dir, "alpha")
	require.NoError(t, err)
	assert.Equal(t, "alpha: alpha-1.txt=5 alpha-2.txt=10 alpha-3.txt=15 (30 bytes)", report)
}
