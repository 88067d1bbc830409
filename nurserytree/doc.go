// Package nurserytree shows the tree of live nurseries: every
// [github.com/structured-go/nursery.Nursery] created and not yet done with Wait, nested as the
// program nests them, with each nursery's state and number of tasks — and,
// in debug mode (package nurserydebug), each task's name, age and spawn
// site. [Write] prints it, [JSON] returns it as a document, and [Handler]
// serves both over HTTP, next to net/http/pprof:
//
//	http.Handle("/debug/nursery", nurserytree.Handler())
//
// It stands to package nursery as net/http/pprof stands to runtime/pprof:
// importing it is what turns the tree on. Nurseries register in the tree
// only in a program that links this package (package nurserytest does), so
// that the core costs nothing for it elsewhere and links neither net/http
// nor encoding/json; nurseries created before its init are not shown.
// Importing it also makes the environment variable NURSERY_DEBUG=1 turn
// debug mode on, as importing nurserydebug does.
package nurserytree
