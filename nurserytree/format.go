package nurserytree

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/structured-go/nursery/internal/live"
)

// treeBuffer is the size of the buffer between the tree's formatting and
// its writer.
const treeBuffer = 16 << 10

// writeText writes the tree as Write shows it.
func writeText(w io.Writer, roots []*live.Nursery) error {
	bw := bufio.NewWriterSize(w, treeBuffer)
	if len(roots) == 0 {
		_, _ = bw.WriteString("no live nurseries\n")
		return bw.Flush()
	}
	plain := false // some nursery is not in debug mode
	var line []byte
	err := walk(roots, func(it treeItem) error {
		line = line[:0]
		if tn := it.n; tn != nil {
			line = fmt.Appendf(line, "nursery %s: %s", quoteName(tn.Name), tn.State)
			if tn.Debug {
				line = fmt.Appendf(line, ", age %s, %d %s, created at %s", tn.Age, tn.Running, plural(tn.Running, "task", "tasks"), tn.Created)
			} else {
				line = append(line, ", "...)
				line = strconv.AppendInt(line, int64(tn.Running), 10)
				line = append(line, ' ')
				line = append(line, plural(tn.Running, "task", "tasks")...)
				plain = true
			}
			if tn.Status != "" {
				line = append(line, " ["...)
				line = append(line, tn.Status...)
				line = append(line, ']')
			}
		} else {
			tt := it.t
			line = fmt.Appendf(line, "task %s: %s, age %s, spawned at %s", quoteName(tt.Name), tt.State, tt.Age, tt.Spawned)
		}
		line = append(line, '\n')
		writeIndent(bw, it.depth)
		_, err := bw.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	if plain {
		_, _ = bw.WriteString("(task names, ages and sites are shown in debug mode: nurserydebug.On() or NURSERY_DEBUG=1)\n")
	}
	return bw.Flush()
}

// spaces indents Write's lines, a slice at a time.
const spaces = "                                                                "

func writeIndent(w *bufio.Writer, depth int) {
	for n := 2 * depth; n > 0; {
		k := min(n, len(spaces))
		_, _ = w.WriteString(spaces[:k]) // a bufio.Writer's error sticks
		n -= k
	}
}

// writeJSON writes TreeJSON's document, a nursery at a time, indented
// as json.MarshalIndent would indent the whole document.
//
// Outside debug mode a nursery does not keep its path: it is built here,
// in one buffer, from the path of the nursery above (a nursery outside
// debug mode is never under one in debug mode, nor in a task), which is
// what the buffer starts with, since walk visits only nurseries under that
// one in between. So the paths of a chain of nested nurseries cost what
// the document holds of them, and each is dropped once written.
func writeJSON(w io.Writer, roots []*live.Nursery) error {
	bw := bufio.NewWriterSize(w, treeBuffer)
	_, _ = bw.WriteString("{\n  \"nurseries\": [")
	var (
		id    int
		first = true
		path  []byte
		above map[*live.Node]string // the paths of nurseries above top-level ones, gone
		nw    = &newlineHolder{w: bw}
		enc   = json.NewEncoder(nw) // reuses its buffers from one nursery to the next
	)
	enc.SetIndent("    ", "  ")
	err := walk(roots, func(it treeItem) error {
		tn := it.n
		if tn == nil {
			return nil // a task: written with its nursery
		}
		id++
		tn.ID = id
		for _, tt := range tn.Tasks {
			id++
			tt.ID = id
		}
		if it.above != nil {
			tn.Parent = it.above.ID
		}
		if it.task != nil {
			tn.Task = it.task.ID
		}
		built := false
		switch {
		case tn.Debug:
			path = append(path[:0], tn.Path...)
		case it.above != nil:
			path = path[:it.above.PathLen]
			built = true
		default:
			path = path[:0]
			if up := tn.Node.Up; up != nil {
				p, ok := above[up]
				if !ok {
					p = up.PathOf()
					if above == nil {
						above = make(map[*live.Node]string)
					}
					above[up] = p
				}
				path = append(path, p...)
			}
			built = true
		}
		if built {
			if tn.Name != "" {
				if len(path) > 0 {
					path = append(path, '/')
				}
				path = append(path, tn.Name...)
			}
			tn.Path = string(path)
		}
		tn.PathLen = len(path)
		sep := ",\n    "
		if first {
			sep, first = "\n    ", false
		}
		nw.held = false
		_, _ = bw.WriteString(sep)
		// No error can come from encoding: the document holds only strings,
		// numbers, booleans and structs of them.
		err := enc.Encode(tn)
		if built {
			tn.Path = ""
		}
		return err
	})
	if err != nil {
		return err
	}
	if first {
		_, _ = bw.WriteString("]\n}\n")
	} else {
		_, _ = bw.WriteString("\n  ]\n}\n")
	}
	return bw.Flush()
}

// newlineHolder holds back the newline that a json.Encoder writes after each
// value, and writes it only if more follows: in TreeJSON's document a
// separator comes first.
type newlineHolder struct {
	w    *bufio.Writer
	held bool
}

func (h *newlineHolder) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	if h.held {
		_ = h.w.WriteByte('\n')
		h.held = false
	}
	if p[n-1] == '\n' {
		p, h.held = p[:n-1], true
	}
	_, err := h.w.Write(p)
	return n, err
}

func quoteName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return strconv.Quote(name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
