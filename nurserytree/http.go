package nurserytree

import (
	"fmt"
	"net/http"

	"github.com/structured-go/nursery/internal/live"
)

// Handler returns an HTTP handler that serves the tree of live nurseries:
// as text ([Write]) by default, as JSON ([JSON]) with the query
// parameter format=json. Mount it next to net/http/pprof, for example:
//
//	http.Handle("/debug/nursery", nurserytree.Handler())
//
// The tree names tasks and source files: serve it only where the pprof
// handlers would be served. The handler writes the tree as it formats it,
// outside the registry's locks, as Write does.
func Handler() http.Handler {
	return http.HandlerFunc(serveTree)
}

func serveTree(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// An error here is the client's going away: the response has begun.
	switch format := r.URL.Query().Get("format"); format {
	case "", "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_ = writeText(w, live.Snapshot(nil))
	case "json":
		w.Header().Set("Content-Type", "application/json")
		_ = writeJSON(w, live.Snapshot(nil))
	default:
		http.Error(w, fmt.Sprintf("unknown format %q: want text or json", format), http.StatusBadRequest)
	}
}
