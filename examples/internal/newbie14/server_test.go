package newbie14

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserytest"
	"github.com/structured-go/nursery/nurserytree"
)

// treeDoc is nurserytree.JSON's document as its doc describes it.
type treeDoc struct {
	Nurseries []struct {
		ID      int    `json:"id"`
		Parent  int    `json:"parent"`
		Task    int    `json:"task"`
		Name    string `json:"name"`
		Path    string `json:"path"`
		State   string `json:"state"`
		Debug   bool   `json:"debug"`
		Running *int   `json:"running"` // the task count (CHANGELOG: `"running"`)
		Status  string `json:"status"`
		Tasks   []struct {
			ID    int    `json:"id"`
			Name  string `json:"name"`
			Path  string `json:"path"`
			State string `json:"state"`
		} `json:"tasks"`
	} `json:"nurseries"`
}

func decodeTree(t *testing.T, body string) treeDoc {
	t.Helper()
	var d treeDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("tree JSON: %v\n%s", err, body)
	}
	return d
}

// startServer runs a Server in the background nursery bg and returns it once
// it listens.
func startServer(t *testing.T, bg *nursery.Nursery, opts ...nursery.Option) *Server {
	t.Helper()
	s := &Server{}
	_, err := nursery.Start(bg, func(ctx context.Context, ready func(struct{})) error {
		return s.Serve(ctx, func(string) { ready(struct{}{}) }, opts...)
	}, nursery.Name("server-task"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServerTree(t *testing.T) {
	defer nurserytest.VerifyNone(t)
	web := httptest.NewServer(nurserytree.Handler())
	defer web.Close()

	bg := nursery.New(context.Background(), nursery.WithName("test"))
	s := startServer(t, bg)

	c1, c2 := dial(t, s.Addr), dial(t, s.Addr)
	c1.roundTrip(t, "hello")
	c2.roundTrip(t, "world")

	// Text view: server under the test's nursery, conn-1 and conn-2 under
	// server, each with its 2 tasks (read, write).
	text := get(t, web.URL)
	t.Logf("tree while connections are open:\n%s", text)
	lines := strings.Split(text, "\n")
	indent := func(prefix string) int {
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimLeft(l, " "), prefix) {
				return len(l) - len(strings.TrimLeft(l, " "))
			}
		}
		t.Fatalf("no line %q in tree:\n%s", prefix, text)
		return -1
	}
	top, srv, c1i, c2i := indent(`nursery "test"`), indent(`nursery "server"`), indent(`nursery "conn-1"`), indent(`nursery "conn-2"`)
	if !(top < srv && srv < c1i && c1i == c2i) {
		t.Errorf("nesting wrong: indents test=%d server=%d conn-1=%d conn-2=%d\n%s", top, srv, c1i, c2i, text)
	}
	for _, l := range lines {
		if strings.Contains(l, `nursery "conn-`) && !strings.Contains(l, "2 tasks") {
			t.Errorf("connection line without its 2 tasks: %q", l)
		}
		if strings.Contains(l, `nursery "server"`) {
			// accept (a Start service) + handle-conn-1 + handle-conn-2
			if !strings.Contains(l, "3 tasks") {
				t.Errorf("server line should count 3 tasks: %q", l)
			}
			if !strings.Contains(l, "2 open connections") {
				t.Errorf("server line should show WithStatus's line: %q", l)
			}
		}
	}

	// JSON view: flat, parents first, nesting by ids.
	doc := decodeTree(t, get(t, web.URL+"?format=json"))
	byName := map[string]int{}
	ids := map[int]string{}
	for i, n := range doc.Nurseries {
		byName[n.Name] = i
		ids[n.ID] = n.Name
		if n.Parent != 0 {
			if _, seen := ids[n.Parent]; !seen {
				t.Errorf("nursery %q listed before its parent %d", n.Name, n.Parent)
			}
		}
	}
	for _, name := range []string{"test", "server", "conn-1", "conn-2"} {
		if _, ok := byName[name]; !ok {
			t.Fatalf("JSON lacks nursery %q: %+v", name, doc)
		}
	}
	parentOf := func(name string) string { return ids[doc.Nurseries[byName[name]].Parent] }
	if parentOf("conn-1") != "server" || parentOf("conn-2") != "server" || parentOf("server") != "test" {
		t.Errorf("JSON nesting wrong: conn-1<%s conn-2<%s server<%s", parentOf("conn-1"), parentOf("conn-2"), parentOf("server"))
	}
	if p := doc.Nurseries[byName["conn-1"]].Path; p != "test/server/conn-1" {
		t.Errorf("conn-1 path = %q, want test/server/conn-1", p)
	}
	if r := doc.Nurseries[byName["conn-1"]].Running; r == nil || *r != 2 {
		t.Errorf(`conn-1 "running" = %v, want 2`, r)
	}
	if st := doc.Nurseries[byName["server"]].Status; st != "2 open connections" {
		t.Errorf(`server "status" = %q, want the WithStatus line`, st)
	}

	// Close one connection: it leaves the tree.
	c1.Close()
	eventually(t, "conn-1 leaves the tree", func() (bool, string) {
		text := get(t, web.URL)
		return !strings.Contains(text, `"conn-1"`) && strings.Contains(text, `"conn-2"`), text
	})
	c2.Close()
	eventually(t, "conn-2 leaves the tree", func() (bool, string) {
		text := get(t, web.URL)
		return !strings.Contains(text, `"conn-`) && strings.Contains(text, "1 open") == false, text
	})

	bg.Cancel(nil)
	if err := bg.Wait(); err != nil {
		t.Fatal(err)
	}
	if text := get(t, web.URL); strings.Contains(text, "nursery \"") {
		t.Errorf("tree after everything stopped:\n%s", text)
	}
	if doc := decodeTree(t, get(t, web.URL+"?format=json")); len(doc.Nurseries) != 0 {
		t.Errorf("JSON after everything stopped: %+v", doc)
	}
}
