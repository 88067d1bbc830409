package nurserytree_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
)

// openChain opens depth nurseries, each created from the context of the one
// before, so that each sits under the one before in the tree, and returns
// them, the outermost first. Each is named by name(level), level 0 being
// the outermost. closeChain waits them, the innermost first.
func openChain(ctx context.Context, depth int, name func(level int) string, opts ...nursery.Option) []*nursery.Nursery {
	chain := make([]*nursery.Nursery, depth)
	for i := range chain {
		chain[i] = nursery.New(ctx, append(opts, nursery.WithName(name(i)))...)
		ctx = chain[i].Context()
	}
	return chain
}

func closeChain(tb testing.TB, chain []*nursery.Nursery) {
	tb.Helper()
	for i := len(chain) - 1; i >= 0; i-- {
		if err := chain[i].Wait(); err != nil {
			tb.Errorf("level %d: %v", i, err)
		}
	}
}

// benchDepths are the depths of the chains the tree benchmarks write.
var benchDepths = []int{100, 1000, 10000}

func benchTree(b *testing.B, write func() error) {
	for _, depth := range benchDepths {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			chain := openChain(b.Context(), depth, func(int) string { return "d" })
			defer closeChain(b, chain)
			b.ReportAllocs()
			for b.Loop() {
				if err := write(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteTreeDepth writes the tree of a chain of nested nurseries.
func BenchmarkWriteTreeDepth(b *testing.B) {
	benchTree(b, func() error { return nurserytree.Write(io.Discard) })
}

// BenchmarkTreeJSONDepth is BenchmarkWriteTreeDepth for TreeJSON.
func BenchmarkTreeJSONDepth(b *testing.B) {
	benchTree(b, func() error { _, err := nurserytree.JSON(); return err })
}

// scaleDepth is how deep the chains of the scale tests go: twice the
// depth at which the nested TreeJSON document of old passed
// encoding/json's limit of 10 000 levels.
const scaleDepth = 10000

// chainName names the levels of a chain sparsely, so that the paths of a
// deep chain stay short: the top one root, the deepest "bottom", one level
// in a hundred "L<level>", the others nothing.
func chainName(root string, depth int) func(int) string {
	return func(level int) string {
		switch {
		case level == 0:
			return root
		case level == depth-1:
			return "bottom"
		case level%100 == 0:
			return "L" + strconv.Itoa(level)
		}
		return ""
	}
}

// joinPath joins a path and a name as the tree does: empty names are left
// out.
func joinPath(path, name string) string {
	switch {
	case path == "":
		return name
	case name == "":
		return path
	}
	return path + "/" + name
}

// checkChainText reads a tree in WriteTree's form and checks that it holds
// the chain named root, every level on its line at its indentation, with
// nothing under the deepest.
func checkChainText(t *testing.T, r io.Reader, root string, depth int, name func(int) string, debug bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4*depth+1024)
	level := -1 // the level of the previous line of the chain; -1 before it
	for sc.Scan() {
		line := sc.Text()
		if level < 0 {
			if strings.HasPrefix(line, "nursery "+strconv.Quote(root)+":") {
				level = 0
			}
			continue
		}
		if level == depth-1 {
			if strings.HasPrefix(line, strings.Repeat("  ", depth)) {
				assert.Failf(t, "a line under the deepest nursery", "%.200s", strings.TrimLeft(line, " "))
			}
			break
		}
		level++
		want := "nursery " + strconv.Quote(name(level)) + ": running"
		if name(level) == "" {
			want = "nursery (unnamed): running"
		}
		if debug {
			want += ", age "
		}
		indent := strings.Repeat("  ", level)
		if !strings.HasPrefix(line, indent+want) || line[len(indent)] == ' ' {
			require.Failf(t, "wrong line", "level %d: %.200q, want %q indented by %d", level, strings.TrimLeft(line, " "), want, len(indent))
		}
	}
	require.NoError(t, sc.Err())
	require.Equal(t, depth-1, level, "levels of the chain in the tree")
	_, _ = io.Copy(io.Discard, r)
}

// checkChainJSON checks that the TreeJSON document b holds the chain named
// root, each level under the one before with its path.
func checkChainJSON(t *testing.T, b []byte, root string, depth int, name func(int) string, debug bool) {
	t.Helper()
	n := find(t, decodeTree(t, b), root)
	path := ""
	for level := range depth {
		path = joinPath(path, name(level))
		require.Equal(t, name(level), n.Name, "level %d", level)
		require.Equal(t, path, n.Path, "level %d", level)
		require.Equal(t, "running", n.State, "level %d", level)
		require.Equal(t, debug, n.Debug, "level %d", level)
		require.Empty(t, n.Tasks, "level %d", level)
		if level == depth-1 {
			require.Empty(t, n.Nurseries, "under the deepest")
			break
		}
		require.Len(t, n.Nurseries, 1, "level %d", level)
		n = n.Nurseries[0]
	}
	assert.True(t, strings.HasPrefix(n.Path, root+"/L100/L200/L300/L400/L500/L600/L700/L800/L900/L1000/L1100/"), "path of the deepest: %s", n.Path)
	assert.True(t, strings.HasSuffix(n.Path, "/L9900/bottom"), "path of the deepest: %s", n.Path)
}

// The views of the tree work at any depth: the JSON document is flat, and
// nothing recurses or copies paths level by level.
func TestTreeDepth(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		opts []nursery.Option
	}{
		{"plain", nil},
		{"debug", []nursery.Option{nurserydebug.On()}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			debug := mode.opts != nil || debugFromEnv()
			root := "deep-" + mode.name
			name := chainName(root, scaleDepth)
			chain := openChain(t.Context(), scaleDepth, name, mode.opts...)
			defer closeChain(t, chain)

			t.Run("WriteTree", func(t *testing.T) {
				r, w := io.Pipe()
				go func() { _ = w.CloseWithError(nurserytree.WriteNamed(w, root)) }()
				checkChainText(t, r, root, scaleDepth, name, debug)
			})
			t.Run("TreeJSON", func(t *testing.T) {
				b, err := nurserytree.JSON()
				require.NoError(t, err)
				checkChainJSON(t, b, root, scaleDepth, name, debug)
			})
			t.Run("Handler", func(t *testing.T) {
				srv := httptest.NewServer(nurserytree.Handler())
				defer srv.Close()
				resp, err := http.Get(srv.URL)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				checkChainText(t, resp.Body, root, scaleDepth, name, debug)

				resp, err = http.Get(srv.URL + "?format=json")
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				checkChainJSON(t, b, root, scaleDepth, name, debug)
			})
		})
	}
}

// blockingWriter blocks its first Write until released.
type blockingWriter struct {
	entered, release chan struct{}
	once             sync.Once
	b                bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.entered)
		<-w.release
	})
	return w.b.Write(p)
}

// WriteTree holds the locks that New and Wait take only to copy the list of
// live nurseries: while its writer blocks, in the middle of the tree,
// nurseries come and go in every shard of the registry.
func TestTreeWritesOutsideTheLocks(t *testing.T) {
	t.Parallel()
	const depth = 1000 // a tree of some 1 MB: WriteTree writes before it is done
	name := chainName("outside-locks", depth)
	chain := openChain(t.Context(), depth, name)
	defer closeChain(t, chain)
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() { done <- nurserytree.WriteNamed(w, "outside-locks") }()
	<-w.entered
	// The registry has 16 shards, picked at random: 1 000 nurseries miss
	// one with a probability of 16·(15/16)^1000, about 1e-27.
	for range 1000 {
		n := nursery.New(t.Context(), nursery.WithName("outside-locks-other"))
		n.Go(noop)
		require.NoError(t, n.Wait())
	}
	close(w.release)
	require.NoError(t, <-done)
	checkChainText(t, &w.b, "outside-locks", depth, name, debugFromEnv())
}

// countingWriter counts what is written to it.
type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// The views cost a fixed number of allocations per nursery (the count per
// nursery of a chain twice as deep is the same) and a few bytes allocated
// per byte of output. Before, the paths were joined level by level, under
// the registry's locks: the allocations grew with the square of the depth,
// the bytes with the cube (356 MB for WriteTree of a chain 1 000 deep, whose
// text is 1 MB). Not parallel: allocations are counted over the process.
func TestTreeCostPerNursery(t *testing.T) {
	const depth = 1000
	for _, tc := range []struct {
		name    string
		allocs  float64 // per nursery
		perByte float64 // bytes allocated per byte written
		view    func(w io.Writer, root string) error
	}{
		{"WriteTree", 8, 1, nurserytree.WriteNamed},
		// About 5 bytes per byte (3 copies of the paths, and the buffer's
		// growth); more under the race detector, whose sync.Pool drops
		// encoding/json's buffers at random.
		{"TreeJSON", 8, 20, func(w io.Writer, _ string) error {
			b, err := nurserytree.JSON()
			_, _ = w.Write(b)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cost := func(depth int) (allocs, perByte float64) {
				// Every level named, so that paths are joined at every level.
				root := "cost-" + tc.name
				chain := openChain(t.Context(), depth, func(level int) string {
					if level == 0 {
						return root
					}
					return "c"
				})
				defer closeChain(t, chain)
				var written countingWriter
				view := func() { require.NoError(t, tc.view(&written, root)) }
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				allocs = testing.AllocsPerRun(3, view) // and once more before
				runtime.ReadMemStats(&after)
				return allocs, float64(after.TotalAlloc-before.TotalAlloc) / float64(written)
			}
			a1, _ := cost(depth)
			a2, perByte := cost(2 * depth)
			t.Logf("%.1f allocations per nursery, %.2f bytes allocated per byte written", (a2-a1)/depth, perByte)
			budget := tc.allocs
			if debugFromEnv() {
				budget *= 2 // an age, a site, and longer lines to format
			}
			assert.LessOrEqual(t, (a2-a1)/depth, budget, "allocations per nursery")
			assert.LessOrEqual(t, perByte, tc.perByte, "bytes allocated per byte written")
		})
	}
}

// A nursery's path names every nursery whose context it derives from: a
// debug-mode nursery under a deep chain of plain ones, and nurseries whose
// parent is done (they are shown at the top).
func TestTreePathsThroughChains(t *testing.T) {
	t.Parallel()
	name := chainName("paths", scaleDepth)
	chain := openChain(t.Context(), scaleDepth, name)
	dbg := nursery.New(chain[len(chain)-1].Context(), nurserydebug.On(), nursery.WithName("dbg"))
	gone := nursery.New(t.Context(), nursery.WithName("gone"))
	orphans := []*nursery.Nursery{
		nursery.New(gone.Context(), nursery.WithName("orphan")),
		nursery.New(gone.Context(), nursery.WithName("orphan")),
	}
	require.NoError(t, gone.Wait())
	defer func() {
		for _, n := range orphans {
			assert.NoError(t, n.Wait())
		}
		assert.NoError(t, dbg.Wait())
		closeChain(t, chain)
	}()

	doc := treeDoc(t)
	n := find(t, doc, "paths")
	path := ""
	for level := range scaleDepth {
		path = joinPath(path, name(level))
		require.Equal(t, path, n.Path, "level %d", level)
		require.Len(t, n.Nurseries, 1, "level %d", level)
		n = n.Nurseries[0]
	}
	assert.Equal(t, "dbg", n.Name)
	assert.Equal(t, path+"/dbg", n.Path)
	assert.True(t, n.Debug)

	var got []string
	for _, n := range doc {
		if n.Name == "orphan" {
			got = append(got, n.Path)
		}
	}
	assert.Equal(t, []string{"gone/orphan", "gone/orphan"}, got)
}
