package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Two clients connect; the tree served over HTTP shows a nursery per
// connection, with its reader and writer, under the connections nursery.
func TestTreeNamesConnectionNurseries(t *testing.T) {
	n := nursery.New(t.Context(), nursery.WithName("debugserver"), nurserydebug.On())
	defer func() {
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	}()
	lines, debug, err := start(n)
	require.NoError(t, err)
	for i, msg := range []string{"hello", "tree"} {
		c, err := dial(t.Context(), lines)
		require.NoError(t, err)
		defer c.Close()
		reply, err := c.roundTrip(msg)
		require.NoError(t, err, "client %d", i+1)
		assert.Equal(t, strings.ToUpper(msg), reply)
	}

	want := []string{
		`^nursery "debugserver": running, .*, 2 tasks, created at debugserver/main_test\.go:\d+$`,
		`^  task "lines": running, .* spawned at debugserver/main\.go:\d+$`,
		`^    nursery "conns": running, .*, 2 tasks, created at debugserver/main\.go:\d+$`,
		`^        nursery "conn-1": blocked-in-Wait, .*, 2 tasks, created at debugserver/main\.go:\d+$`,
		`^        nursery "conn-2": blocked-in-Wait, .*, 2 tasks, created at debugserver/main\.go:\d+$`,
		`^          task "read": running, `,
		`^          task "write": running, `,
		`^  task "debug-http": running, `,
	}
	// A client has its reply as soon as the connection's tasks have run,
	// which may be before the connection's Run has reached Wait: look
	// again until the tree has settled, then check every line.
	var text string
	settled := func() bool {
		var err error
		text, err = get(t.Context(), "http://"+debug+"/debug/nursery")
		require.NoError(t, err)
		for _, w := range want {
			if !regexp.MustCompile("(?m)" + w).MatchString(text) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !settled() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	for _, w := range want {
		assert.Regexp(t, regexp.MustCompile("(?m)"+w), text)
	}

	raw, err := get(t.Context(), "http://"+debug+"/debug/nursery?format=json")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"debugserver/lines/conns/127.0.0.1:*/conn-1",
		"debugserver/lines/conns/127.0.0.1:*/conn-2",
	}, connPaths(t, raw))
}

// connPaths returns the paths of the nurseries named conn-N in a tree
// served as JSON, with the client ports replaced by *.
func connPaths(t *testing.T, raw string) []string {
	type node struct {
		Name      string `json:"name"`
		Path      string `json:"path"`
		Nurseries []node `json:"nurseries"`
		Tasks     []node `json:"tasks"`
	}
	var doc node
	require.NoError(t, json.Unmarshal([]byte(raw), &doc), raw)
	port := regexp.MustCompile(`:\d+/`)
	var paths []string
	var walk func(n node)
	walk = func(n node) {
		if strings.HasPrefix(n.Name, "conn-") {
			paths = append(paths, port.ReplaceAllString(n.Path, ":*/"))
		}
		for _, c := range n.Nurseries {
			walk(c)
		}
		for _, c := range n.Tasks {
			walk(c)
		}
	}
	walk(doc)
	return paths
}

// A client that hangs up ends its connection's nursery, which leaves the
// tree.
func TestHangUpLeavesTheTree(t *testing.T) {
	n := nursery.New(t.Context(), nursery.WithName("debugserver"), nurserydebug.On())
	defer func() {
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	}()
	lines, debug, err := start(n)
	require.NoError(t, err)
	c, err := dial(t.Context(), lines)
	require.NoError(t, err)
	_, err = c.roundTrip("bye")
	require.NoError(t, err)
	require.NoError(t, c.Close())

	// The server notices the hang-up on its own time: poll the tree.
	var text string
	for range 1000 {
		text, err = get(t.Context(), "http://"+debug+"/debug/nursery")
		require.NoError(t, err)
		if !strings.Contains(text, `nursery "conn-1"`) {
			break
		}
	}
	assert.NotContains(t, text, `nursery "conn-1"`)
	assert.Contains(t, text, `nursery "conns": running`)
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, true))
	assert.Regexp(t, regexp.MustCompile(`^line server on 127\.0\.0\.1:\d+
tree on http://127\.0\.0\.1:\d+/debug/nursery

\$ curl http://127\.0\.0\.1:\d+/debug/nursery
nursery "debugserver": running, `), out.String())
	// Each connection's nursery is in the tree; whether its Run has reached
	// Wait yet depends on timing (the client had its reply from the
	// connection's tasks), so either state is right.
	for _, conn := range []string{"conn-1", "conn-2"} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^        nursery "`+conn+`": (running|blocked-in-Wait), .*, 2 tasks, `), out.String())
	}
}

// The server stops when its context ends even while a client stays
// connected: each connection's reader is unblocked by closing the
// connection. (The connection's AfterFunc was once stopped as soon as the
// body returned, so a connected client kept the server up.)
func TestStopsWithClientConnected(t *testing.T) {
	n := nursery.New(t.Context(), nursery.WithName("debugserver"))
	lines, _, err := start(n)
	require.NoError(t, err)
	c, err := dial(t.Context(), lines)
	require.NoError(t, err)
	defer c.Close()
	reply, err := c.roundTrip("still here")
	require.NoError(t, err)
	assert.Equal(t, "STILL HERE", reply)

	n.Cancel(nil) // what Ctrl-C does to the root context
	done := make(chan error, 1)
	go func() { done <- n.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the server did not stop while a client was connected")
	}
}
