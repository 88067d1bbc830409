package nurserytree_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// treeProgram starts a fixed three-level program in a synctest bubble and
// returns once every goroutine in it is blocked, three seconds in:
//
//	root: blocked in Wait
//	  task accept (since 0s)
//	  task conn-1 (since 1s) → nursery conn-1: blocked in Wait
//	    task read → nursery frames: blocked in Wait
//	      task decode
//	    task write
//	  task conn-2 (since 2s) → nursery conn-2: cancelling
//	    task stuck, which ignores the cancellation
//
// stop ends it.
func treeProgram(t *testing.T, root string, opts ...nursery.Option) (stop func()) {
	ctx := t.Context()
	block := func(ctx context.Context) error { <-ctx.Done(); return nil }
	release := make(chan struct{})
	n := nursery.New(ctx, append(opts, nursery.WithName(root))...)
	n.Go(block, nursery.Name("accept"))
	time.Sleep(time.Second)
	n.Go(func(ctx context.Context) error {
		return nursery.Run(ctx, func(c *nursery.Nursery) error {
			c.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(f *nursery.Nursery) error {
					f.Go(block, nursery.Name("decode"))
					return nil
				}, nursery.WithName("frames"))
			}, nursery.Name("read"))
			c.Go(block, nursery.Name("write"))
			return nil
		}, nursery.WithName("conn-1"))
	}, nursery.Name("conn-1"))
	time.Sleep(time.Second)
	n.Go(func(ctx context.Context) error {
		c := nursery.New(ctx, nursery.WithName("conn-2"))
		c.Go(func(context.Context) error { <-release; return nil }, nursery.Name("stuck"))
		c.Cancel(nil)
		return c.Wait()
	}, nursery.Name("conn-2"))
	time.Sleep(time.Second)
	done := make(chan error)
	go func() { done <- n.Wait() }()
	synctest.Wait()
	return func() {
		n.Cancel(nil)
		close(release)
		assert.NoError(t, <-done)
	}
}

// sites matches the sites in a tree, whose line numbers change whenever
// this file does.
var sites = regexp.MustCompile(`\S*tree_test\.go:\d+`)

func golden(t *testing.T, name, got string) {
	t.Helper()
	got = sites.ReplaceAllString(got, "tree_test.go:LINE")
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func TestTreeGolden(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		stop := treeProgram(t, "golden", nurserydebug.On())
		defer stop()
		var b strings.Builder
		require.NoError(t, nurserytree.WriteNamed(&b, "golden"))
		golden(t, "tree.golden", b.String())

		// TreeJSON holds the same tree, indented as json.MarshalIndent
		// would indent it.
		raw, err := nurserytree.JSON()
		require.NoError(t, err)
		var indented bytes.Buffer
		require.NoError(t, json.Indent(&indented, raw, "", "  "))
		assert.Equal(t, indented.String(), string(raw))
		doc := decodeTree(t, raw)
		assert.Equal(t, []string{
			"golden blocked-in-Wait 3s",
			"golden/accept running 3s",
			"golden/conn-1 running 2s",
			"golden/conn-1/conn-1 blocked-in-Wait 2s",
			"golden/conn-1/conn-1/read running 2s",
			"golden/conn-1/conn-1/read/frames blocked-in-Wait 2s",
			"golden/conn-1/conn-1/read/frames/decode running 2s",
			"golden/conn-1/conn-1/write running 2s",
			"golden/conn-2 running 1s",
			"golden/conn-2/conn-2 cancelling 1s",
			"golden/conn-2/conn-2/stuck cancelling 1s",
		}, flatten(find(t, doc, "golden")))
	})
}

func TestTreeGoldenDebugOff(t *testing.T) {
	t.Parallel()
	if debugFromEnv() {
		t.Skip("NURSERY_DEBUG is set")
	}
	synctest.Test(t, func(t *testing.T) {
		stop := treeProgram(t, "golden-plain")
		defer stop()
		var b strings.Builder
		require.NoError(t, nurserytree.WriteNamed(&b, "golden-plain"))
		golden(t, "tree-debug-off.golden", b.String())
	})
}

func TestTreeForgetsWaitedNurseries(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]nursery.Option{nil, {nurserydebug.On()}} {
		n := nursery.New(t.Context(), append(opts, nursery.WithName("forgotten"))...)
		n.Go(noop)
		var b strings.Builder
		require.NoError(t, nurserytree.WriteNamed(&b, "forgotten"))
		assert.Contains(t, b.String(), `nursery "forgotten": running`)
		require.NoError(t, n.Wait())
		b.Reset()
		require.NoError(t, nurserytree.WriteNamed(&b, "forgotten"))
		assert.Equal(t, "no live nurseries\n", b.String())
	}
}

// jsonNursery and jsonTask mirror TreeJSON's document; decodeTree fills in
// the nesting that the document gives by ids.
type jsonNursery struct {
	ID      int         `json:"id"`
	Parent  int         `json:"parent"`
	Task    int         `json:"task"`
	Name    string      `json:"name"`
	Path    string      `json:"path"`
	State   string      `json:"state"`
	Debug   bool        `json:"debug"`
	Age     string      `json:"age"`
	Created *jsonSite   `json:"created"`
	Tasks   []*jsonTask `json:"tasks"`

	Nurseries []*jsonNursery `json:"-"`
}

type jsonTask struct {
	ID      int       `json:"id"`
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	State   string    `json:"state"`
	Age     string    `json:"age"`
	Spawned *jsonSite `json:"spawned"`

	Nurseries []*jsonNursery `json:"-"`
}

type jsonSite struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

func treeDoc(t *testing.T) []*jsonNursery {
	t.Helper()
	b, err := nurserytree.JSON()
	require.NoError(t, err)
	return decodeTree(t, b)
}

// decodeTree decodes a TreeJSON document, checks that its ids are unique
// and that each nursery comes after the nursery and task it is under, and
// returns the top-level nurseries with the others nested under them.
func decodeTree(t *testing.T, b []byte) []*jsonNursery {
	t.Helper()
	var doc struct {
		Nurseries []*jsonNursery `json:"nurseries"`
	}
	require.NoError(t, json.Unmarshal(b, &doc), "%.2000s", b)
	require.NotNil(t, doc.Nurseries, "no nurseries array in %.2000s", b)
	nurseries := map[int]*jsonNursery{}
	tasks := map[int]*jsonTask{}
	taskOf := map[int]int{} // task id → its nursery's id
	used := func(id int) bool {
		_, n := nurseries[id]
		_, t := tasks[id]
		return n || t
	}
	var top []*jsonNursery
	for _, n := range doc.Nurseries {
		require.Positive(t, n.ID, "nursery %q", n.Path)
		require.False(t, used(n.ID), "id %d of nursery %q used before", n.ID, n.Path)
		switch {
		case n.Task != 0:
			tk := tasks[n.Task]
			require.NotNil(t, tk, "task %d of nursery %q not listed before it", n.Task, n.Path)
			require.Equal(t, taskOf[n.Task], n.Parent, "parent of nursery %q", n.Path)
			tk.Nurseries = append(tk.Nurseries, n)
		case n.Parent != 0:
			p := nurseries[n.Parent]
			require.NotNil(t, p, "parent %d of nursery %q not listed before it", n.Parent, n.Path)
			p.Nurseries = append(p.Nurseries, n)
		default:
			top = append(top, n)
		}
		nurseries[n.ID] = n
		for _, tk := range n.Tasks {
			require.Positive(t, tk.ID, "task %q", tk.Path)
			require.False(t, used(tk.ID), "id %d of task %q used before", tk.ID, tk.Path)
			tasks[tk.ID] = tk
			taskOf[tk.ID] = n.ID
		}
	}
	if top == nil {
		top = []*jsonNursery{}
	}
	return top
}

func find(t *testing.T, doc []*jsonNursery, name string) *jsonNursery {
	t.Helper()
	for _, n := range doc {
		if n.Name == name {
			return n
		}
	}
	require.Failf(t, "nursery not in the tree", "%q", name)
	return nil
}

// flatten lists "path state age" for a nursery and everything under it.
func flatten(n *jsonNursery) []string {
	out := []string{n.Path + " " + n.State + " " + n.Age}
	for _, tk := range n.Tasks {
		out = append(out, tk.Path+" "+tk.State+" "+tk.Age)
		for _, c := range tk.Nurseries {
			out = append(out, flatten(c)...)
		}
	}
	for _, c := range n.Nurseries {
		out = append(out, flatten(c)...)
	}
	return out
}

func TestTreeHandler(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nurserydebug.On(), nursery.WithName("handler-test"))
	started := make(chan struct{})
	site := nextLine()
	n.Go(func(ctx context.Context) error { close(started); <-ctx.Done(); return nil }, nursery.Name("serve"))
	<-started
	defer func() {
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	}()
	srv := httptest.NewServer(nurserytree.Handler())
	defer srv.Close()

	get := func(query string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + query)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	resp, body := get("")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Regexp(t, `(?m)^nursery "handler-test": running, age \S+, 1 task, created at \S+tree_test\.go:\d+$`, body)
	assert.Regexp(t, `(?m)^  task "serve": running, age \S+, spawned at `+regexp.QuoteMeta(site)+`$`, body)

	resp, body = get("?format=json")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	got := find(t, decodeTree(t, []byte(body)), "handler-test")
	assert.True(t, got.Debug)
	assert.Equal(t, "running", got.State)
	require.Len(t, got.Tasks, 1)
	assert.Equal(t, "handler-test/serve", got.Tasks[0].Path)
	require.NotNil(t, got.Tasks[0].Spawned)
	assert.Equal(t, "github.com/structured-go/nursery/nurserytree_test.TestTreeHandler", got.Tasks[0].Spawned.Function)
	assert.Equal(t, site, filepath.Base(filepath.Dir(got.Tasks[0].Spawned.File))+"/"+filepath.Base(got.Tasks[0].Spawned.File)+":"+strconv.Itoa(got.Tasks[0].Spawned.Line))

	resp, _ = get("?format=xml")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, err := http.Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestNurseryContextPassesValuesAndCancellation(t *testing.T) {
	t.Parallel()
	type key struct{}
	parent, cancel := context.WithCancelCause(context.WithValue(t.Context(), key{}, "v"))
	for _, opts := range [][]nursery.Option{nil, {nurserydebug.On()}} {
		n := nursery.New(parent, opts...)
		assert.Equal(t, "v", n.Context().Value(key{}))
		var seen any
		n.Go(func(ctx context.Context) error { seen = ctx.Value(key{}); return nil })
		require.NoError(t, n.Wait())
		assert.Equal(t, "v", seen)
	}
	n := nursery.New(parent, nurserydebug.On())
	cause := context.Canceled
	cancel(cause)
	<-n.Context().Done()
	assert.ErrorIs(t, context.Cause(n.Context()), cause)
	_ = n.Wait()
}

// WithStatus puts a line of the program's own beside the nursery in every
// view, computed when the tree is shown; without debug mode the tree shows
// how many tasks each nursery has.
func TestTreeStatus(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	release := make(chan struct{})
	n := nursery.New(t.Context(), nursery.WithName("status-server"),
		nursery.WithStatus(func() string { return fmt.Sprintf("%d connections", conns.Load()) }))
	for range 2 {
		n.Go(func(context.Context) error { conns.Add(1); <-release; return nil })
	}
	defer func() {
		close(release)
		require.NoError(t, n.Wait())
	}()
	for conns.Load() < 2 {
		runtime.Gosched()
	}
	var b strings.Builder
	require.NoError(t, nurserytree.WriteNamed(&b, "status-server"))
	line := strings.SplitN(b.String(), "\n", 2)[0]
	if debugFromEnv() {
		assert.Contains(t, line, "[2 connections]")
	} else {
		assert.Equal(t, `nursery "status-server": running, 2 tasks [2 connections]`, line)
	}
	doc, err := nurserytree.JSON()
	require.NoError(t, err)
	var tree struct {
		Nurseries []struct {
			Name    string `json:"name"`
			Running int    `json:"running"`
			Status  string `json:"status"`
		} `json:"nurseries"`
	}
	require.NoError(t, json.Unmarshal(doc, &tree))
	found := false
	for _, tn := range tree.Nurseries {
		if tn.Name == "status-server" {
			found = true
			assert.Equal(t, 2, tn.Running)
			assert.Equal(t, "2 connections", tn.Status)
		}
	}
	assert.True(t, found, "the nursery is in TreeJSON")
	assert.PanicsWithValue(t, "nursery: nil status function", func() { nursery.WithStatus(nil) })
}
