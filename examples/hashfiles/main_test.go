package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery/examples/internal/reexec"
	"github.com/structured-go/nursery/subprocess"
)

// The test binary plays three parts: the tests; the program itself, when
// reexec.Command starts it; and the program's worker processes, which
// re-execute whatever binary the pool runs in (subprocess.Main first).
func TestMain(m *testing.M) {
	subprocess.Main()
	reexec.Main(main)
	goleak.VerifyTestMain(m)
}

// tree writes files with known content under a new directory and returns
// it and what sha256sum would print for it.
func tree(t *testing.T) (dir, want string) {
	t.Helper()
	dir = t.TempDir()
	files := map[string][]byte{
		"a.txt":         []byte("hello\n"),
		"b/empty":       nil,
		"b/c/big.bin":   bytes.Repeat([]byte("0123456789abcdef"), 100_000), // 1.6 MB, several chunks
		"b/c/short.txt": []byte("x"),
	}
	var lines []string
	for _, name := range []string{"a.txt", "b/c/big.bin", "b/c/short.txt", "b/empty"} { // WalkDir's order
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, files[name], 0o644))
		sum := sha256.Sum256(files[name])
		lines = append(lines, fmt.Sprintf("%s  %s\n", hex.EncodeToString(sum[:]), path))
	}
	return dir, strings.Join(lines, "")
}

func TestRun(t *testing.T) {
	dir, want := tree(t)
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-workers", "2", dir}, &stdout, &stderr))
	assert.Equal(t, want, stdout.String())
	assert.Regexp(t, `^hashed 4 files \(1600007 bytes\) in \S+ in [12] worker processes\n$`, stderr.String())
}

func TestRunMissingFile(t *testing.T) {
	dir, _ := tree(t)
	missing := filepath.Join(dir, "missing")
	err := run(t.Context(), []string{"-workers", "1", dir, missing}, new(bytes.Buffer), new(bytes.Buffer))
	// The worker's error arrives with its text, the task's name, and its
	// identity: errors.Is works across the process boundary.
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.EqualError(t, err, fmt.Sprintf("%s: open %s: no such file or directory", missing, missing))
}

// TestProgram runs the program as a user would and checks what they see.
func TestProgram(t *testing.T) {
	t.Parallel()
	dir, want := tree(t)

	var stdout, stderr bytes.Buffer
	cmd := reexec.Command(context.Background(), t, dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s", stderr.String())
	assert.Equal(t, want, stdout.String())
	assert.Regexp(t, regexp.MustCompile(`^hashed 4 files \(1600007 bytes\) in \S+ in \d+ worker processes\n$`), stderr.String())

	stdout.Reset()
	stderr.Reset()
	cmd = reexec.Command(context.Background(), t, filepath.Join(dir, "nope"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	assert.Equal(t, 1, reexec.ExitCode(t, cmd.Run()))
	assert.Empty(t, stdout.String())
	assert.Equal(t, fmt.Sprintf("hashfiles: %[1]s: open %[1]s: no such file or directory\n", filepath.Join(dir, "nope")), stderr.String())
}
