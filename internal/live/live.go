// Package live keeps the tree of live nurseries: the registry that
// package nursery fills when something can show it, and the snapshot that
// package nurserytree formats. It knows nothing of HTTP or JSON beyond the
// field tags of the snapshot.
//
// Keeping the tree costs a nursery an allocation, a context lookup and a
// lock at New and at Wait, so it is kept only once something that shows it
// is linked into the program: nurserytree turns it on in its init (and
// nurserytest and debug mode import nurserytree or register their own
// entries). Nurseries created before that are not in the tree.
package live

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var on atomic.Bool

// Enable turns the tree on for the nurseries created from now on.
func Enable() { on.Store(true) }

// On reports whether nurseries are to register in the tree.
func On() bool { return on.Load() }

// ScopeKey is the context key under which a nursery's context holds its
// *Node, and a debug-mode task's context its *TaskRef, so that a nursery
// created inside knows where it sits in the tree.
type ScopeKey struct{}

// TaskRef is what a debug-mode task's context answers for ScopeKey: the
// task (an opaque key for the snapshot's task map) and its nursery's node.
type TaskRef struct {
	Node *Node
	Task any
}

// Scope returns the nursery, and the debug-mode task, that ctx belongs to.
func Scope(ctx context.Context) (up *Node, task any) {
	switch s := ctx.Value(ScopeKey{}).(type) {
	case *Node:
		return s, nil
	case *TaskRef:
		return s.Node, s.Task
	}
	return nil, nil
}

// Entry is what a registered nursery shows in a snapshot.
type Entry interface {
	// Snap fills in what the tree shows of the nursery besides its name
	// and path, records its debug-mode tasks in tasks (keyed as TaskRef.Task),
	// and reports whether its context is done. It must not block.
	Snap(s *Nursery, now time.Time, tasks map[any]*Task) (cancelled bool)
}

// Node is a nursery's entry in the registry.
type Node struct {
	prev, next *Node
	Up         *Node  // the nursery in whose context (or task) this one was created
	Name       string // the nursery's name
	Path       string // debug mode: the path from the top; otherwise built on demand
	Debug      bool   // the nursery is in debug mode, and so are those created inside
	Entry      Entry
	Waiting    atomic.Bool // Wait has been called
	shard      uint8
}

// registry holds the live nurseries, spread over shards so that nurseries
// created on different cores rarely share a lock.
var registry [16]shard

type shard struct {
	mu   sync.Mutex
	head *Node
	_    [48]byte // keep shards on separate cache lines
}

// Register links nd into the registry.
func (nd *Node) Register() {
	nd.shard = uint8(rand.Uint32() % uint32(len(registry)))
	s := &registry[nd.shard]
	s.mu.Lock()
	nd.next = s.head
	if s.head != nil {
		s.head.prev = nd
	}
	s.head = nd
	s.mu.Unlock()
}

// Unregister unlinks nd if it is linked.
func (nd *Node) Unregister() {
	s := &registry[nd.shard]
	s.mu.Lock()
	if nd.prev != nil || s.head == nd {
		if nd.prev != nil {
			nd.prev.next = nd.next
		} else {
			s.head = nd.next
		}
		if nd.next != nil {
			nd.next.prev = nd.prev
		}
		nd.prev, nd.next = nil, nil
	}
	s.mu.Unlock()
}

// Len returns the number of nurseries in the registry.
func Len() int {
	n := 0
	for i := range registry {
		s := &registry[i]
		s.mu.Lock()
		for nd := s.head; nd != nil; nd = nd.next {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// PathOf is the names of the nurseries and debug-mode tasks from the root
// of the tree down to nd, joined with "/"; empty names are left out. It
// walks up to the root, or to the nearest debug-mode nursery (which keeps
// its path), and builds the string once: a chain of nested nurseries may
// be thousands deep, and joining level by level would copy the path once
// per level.
func (nd *Node) PathOf() string {
	switch {
	case nd.Debug:
		return nd.Path
	case nd.Up == nil:
		return nd.Name
	}
	var names []string
	top, size := "", 0
	for ; nd != nil; nd = nd.Up {
		if nd.Debug {
			top = nd.Path
			break
		}
		if nd.Name != "" {
			names = append(names, nd.Name)
			size += len(nd.Name) + 1
		}
	}
	if len(names) == 0 {
		return top
	}
	var b strings.Builder
	b.Grow(len(top) + size)
	b.WriteString(top)
	for i := len(names) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(names[i])
	}
	return b.String()
}

// JoinPath joins two paths with "/", leaving out empty ones.
func JoinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// scope is the context a nursery's own context derives from when it is in
// the tree: a wrapper of the parent context that answers ScopeKey with the
// node. Context values and cancellation pass through unchanged (the
// context package still finds the parent's cancelCtx through it, so no
// goroutine is started to propagate cancellation).
type scope struct {
	context.Context
	nd *Node
}

// WithNode returns parent wrapped so that Scope finds nd in it.
func WithNode(parent context.Context, nd *Node) context.Context {
	if _, ok := parent.(afterFuncer); ok {
		return &afterFuncScope{scope{parent, nd}}
	}
	return &scope{parent, nd}
}

// afterFuncer is the method by which a context that is not one of package
// context's own lets its children register for its cancellation, rather
// than have context.WithCancel start a goroutine to watch it.
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

// afterFuncScope is scope for a parent with an AfterFunc method, which a
// struct embedding only context.Context would hide.
type afterFuncScope struct{ scope }

func (c *afterFuncScope) AfterFunc(f func()) func() bool {
	return c.Context.(afterFuncer).AfterFunc(f)
}

func (c *scope) Value(key any) any {
	if key == (ScopeKey{}) {
		return c.nd
	}
	return c.Context.Value(key)
}

// String describes the context, as the context package's own types do.
func (c *scope) String() string {
	return ContextName(c.Context) + ".WithNursery(" + strconv.Quote(c.nd.Name) + ")"
}

// ContextName is what a context says of itself, as package context names a
// parent in its contexts' String.
func ContextName(c context.Context) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return reflect.TypeOf(c).String()
}
