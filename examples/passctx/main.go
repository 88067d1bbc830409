// Passctx shows what to pass down a call chain: a context.Context almost
// always, a *nursery.Nursery only to code whose job is to start tasks that
// outlive the call.
//
// asyncio's advice is "don't pass the loop around". Its Go counterpart: don't
// pass the nursery around. A function that takes ctx can still be as
// concurrent as it likes inside — it opens its own nursery and waits for it
// before returning, so its caller sees a plain function call (loadDashboard).
// A function that takes a nursery is a different kind of function: it may
// leave tasks running in it after it returns. Keep those few and make it
// obvious: the nursery is the first parameter, as in Trio, and the name says
// it starts something (startPresence) or spawns siblings (walk).
//
//	go run ./examples/passctx
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/structured-go/nursery"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "passctx:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		// Takes the nursery: the presence task keeps running after the call.
		if err := startPresence(n, w, "ann"); err != nil {
			return err
		}

		// Takes ctx: concurrent inside, finished when it returns.
		d, err := loadDashboard(n.Context(), "ann")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "dashboard: %s has %d orders and %d messages\n", d.User, d.Orders, d.Messages)

		// Takes ctx, but opens a nursery inside for walk, which takes that
		// nursery because it spawns siblings into it.
		files, err := listFiles(n.Context(), "/")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "files: %s\n", strings.Join(files, " "))

		n.Cancel(nil) // done: stop the presence task; Run waits for it
		return nil
	})
}

// A Dashboard is what loadDashboard gathers from several backends.
type Dashboard struct {
	User     string
	Orders   int
	Messages int
}

// loadDashboard queries two backends at once. It takes only ctx: the tasks it
// starts are its own business and are all done when it returns.
func loadDashboard(ctx context.Context, user string) (Dashboard, error) {
	d := Dashboard{User: user}
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) (err error) {
			d.Orders, err = countOrders(ctx, user)
			return err
		}, nursery.Name("orders"))
		n.Go(func(ctx context.Context) (err error) {
			d.Messages, err = countMessages(ctx, user)
			return err
		}, nursery.Name("messages"))
		return nil
	})
	return d, err
}

func countOrders(ctx context.Context, user string) (int, error)   { return 3, ctx.Err() }
func countMessages(ctx context.Context, user string) (int, error) { return 7, ctx.Err() }

// startPresence marks user online until n is cancelled. It takes the nursery
// because the task it starts outlives the call; it returns once the user is
// online (nursery.Start), so what the caller prints next comes after.
func startPresence(n *nursery.Nursery, w io.Writer, user string) error {
	_, err := nursery.Start(n, func(ctx context.Context, ready func(struct{})) error {
		fmt.Fprintf(w, "presence: %s is online\n", user)
		ready(struct{}{})
		<-ctx.Done()
		fmt.Fprintf(w, "presence: %s is offline\n", user)
		return nil
	}, nursery.Name("presence "+user))
	return err
}

// tree is an in-memory file system: directory → entries; a directory entry
// ends with "/".
var tree = map[string][]string{
	"/":          {"etc/", "home/", "README"},
	"/etc/":      {"hosts"},
	"/home/":     {"ann/", "bob/"},
	"/home/ann/": {"notes.txt", "todo.txt"},
	"/home/bob/": {},
}

// listFiles lists every file under root, reading directories concurrently.
// It takes ctx; the nursery it opens for walk ends before it returns.
func listFiles(ctx context.Context, root string) ([]string, error) {
	var mu sync.Mutex
	var files []string
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		walk(n, root, func(file string) {
			mu.Lock()
			defer mu.Unlock()
			files = append(files, file)
		})
		return nil
	}, nursery.WithLimit(2))
	slices.Sort(files)
	return files, err
}

// walk reads dir in a task of n and, for each subdirectory, calls itself to
// start a sibling task in the same nursery. It takes the nursery because
// spawning siblings is its job: the caller's Wait then waits for the whole
// tree, however deep, and WithLimit bounds the whole tree, not each level.
func walk(n *nursery.Nursery, dir string, found func(string)) {
	n.Go(func(ctx context.Context) error {
		entries, err := readDir(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasSuffix(e, "/") {
				walk(n, dir+e, found)
			} else {
				found(path.Join(dir, e))
			}
		}
		return nil
	}, nursery.Name("walk "+dir))
}

func readDir(ctx context.Context, dir string) ([]string, error) {
	entries, ok := tree[dir]
	if !ok {
		return nil, fmt.Errorf("%s: no such directory", dir)
	}
	return entries, ctx.Err()
}
