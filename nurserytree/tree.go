package nurserytree

import (
	"bytes"
	"io"

	"github.com/structured-go/nursery/internal/live"
	_ "github.com/structured-go/nursery/nurserydebug" // NURSERY_DEBUG=1 works wherever the tree is shown
)

// Linking this package is what turns the tree on: until then no nursery
// registers, so that programs that never show the tree never pay for it.
func init() { live.Enable() }

// Write writes every live nursery of the process — created and not yet
// done with Wait — as an indented tree: a nursery created inside a task of
// another (or from its context) appears under it. Each line gives a
// nursery's name, its number of tasks (started and not finished, queued
// ones included) and its state: running, blocked-in-Wait, or cancelling (its
// context is done and tasks are still running; without debug mode the
// nursery knows this when it cancelled itself, when a task returned the
// parent's cancellation, or when the nursery above it is cancelling).
// Nurseries in debug mode (see
// [github.com/structured-go/nursery/nurserydebug.On]) also show their age
// and creation site, and list their tasks that have begun to run, each
// with its state, age and spawn site. A site is the directory and base
// name of the file, and the line, of the call to New, Run, Go, Spawn or
// Start (or of the library's own call, for a nursery or task that one of
// its packages — a supervisor — makes on a goroutine of its own). Without debug
// mode the tree costs no time per task; each nursery of a program that links
// this package pays for its entry at New and Wait (two more allocations,
// about 250 bytes, and a lock; bench/README.md has the figures). Write
// returns the first error of writing to w.
//
// Write may be called at any time from any goroutine; it lists the
// nurseries that were live at some moment during the call, each in a state
// it had during the call, not all at one instant. It holds the locks that
// New and Wait take only to copy the list of live nurseries: it formats
// the tree and writes to w, in pieces, after releasing them, and its work
// is proportional to what it writes (each line is indented by two spaces
// per level of nesting). A nursery that is never waited stays in the tree
// (and in memory) for good, unless it is in debug mode, where the garbage
// collector finds and reports it.
func Write(w io.Writer) error {
	return writeText(w, live.Snapshot(nil))
}

// writeNamed is Write limited to the top-level nurseries named
// name, for tests that must ignore nurseries of other tests.
func writeNamed(w io.Writer, name string) error {
	return writeText(w, live.Snapshot(func(tn *live.Nursery) bool { return tn.Name == name }))
}

// JSON returns what [Write] shows as a JSON document: an object
// whose "nurseries" array lists every live nursery, in the order Write
// shows them (a nursery before the nurseries under it). The list is flat:
// a nursery has "id" (a positive number, unique in the document),
// "parent" (the id of the nursery it is under; absent at the top), "task"
// (the id of the debug-mode task of that nursery in which it was created;
// absent if none), "name", "path" (the names from the top of the tree down
// to it, joined with "/"; in debug mode the names of the tasks it was
// created in are part of it; absent when every name on the way is empty),
// "state", "debug", "running" (its number of tasks: started and not
// finished, queued ones included) and "status" (its nursery.WithStatus line;
// absent without one); in debug mode also "age" (a Go duration), "created"
// (a site) and "tasks" (those that have begun to run). A task has "id",
// "name", "path", "state" (running or cancelling), "age" and "spawned" (a
// site). A site has "function", "file" and "line". An empty "nurseries"
// array means that no nursery is open.
//
// The document is flat, rather than nested like the tree, so that its
// depth stays the same however deep the tree: encoding/json refuses to
// decode (or indent) a document nested more than 10 000 levels, which
// nurseries nested 5 000 deep would exceed. Ids mean nothing from one
// document to the next. JSON takes the registry's locks as Write
// does. Its error is always nil.
func JSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, live.Snapshot(nil)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
