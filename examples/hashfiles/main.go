// Hashfiles prints the SHA-256 digest of files, as sha256sum does, hashing
// them on all cores in worker processes: a subprocess.Pool under a nursery.
//
//	go run ./examples/hashfiles [-workers N] [PATH ...]
//
// Directories are walked; the default PATH is the current directory. Each
// file is one call of a registered function in a worker process, so a
// crash while hashing one file (a bad disk, a bug in a parser you put
// there instead) fails that file only, and Ctrl-C stops every worker.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

// digest is what a worker sends back for one file.
type digest struct {
	Sum  string // hex SHA-256
	Size int64
	Pid  int // the worker process that hashed it
}

// hash runs in a worker process. It is registered during package
// initialization, so that every process of the program (the parent and its
// workers, which re-execute it) knows it by name.
var hash = subprocess.Register("hashfiles.sha256", func(ctx context.Context, path string) (digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return digest{}, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var size int64
	for {
		if ctx.Err() != nil { // cancelled: stop between chunks
			return digest{}, context.Cause(ctx)
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		size += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return digest{}, err
		}
	}
	return digest{Sum: hex.EncodeToString(h.Sum(nil)), Size: size, Pid: os.Getpid()}, nil
})

func main() {
	subprocess.Main() // in a worker process: serve calls, never return

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hashfiles:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("hashfiles", flag.ContinueOnError)
	flags.SetOutput(stderr)
	workers := flags.Int("workers", runtime.GOMAXPROCS(0), "number of worker processes")
	if err := flags.Parse(args); err != nil {
		return err
	}
	paths := flags.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := collect(paths)
	if err != nil {
		return err
	}

	start := time.Now()
	pool, err := subprocess.NewPool(ctx, subprocess.Workers(*workers))
	if err != nil {
		return err
	}
	defer pool.Close()

	// One task per file, named after it, at most 4 per worker at once.
	// The first failure cancels the rest; Run returns when every call is
	// over.
	tasks := make([]*nursery.Task[digest], len(files))
	err = nursery.Run(ctx, func(n *nursery.Nursery) error {
		for i, path := range files {
			tasks[i] = hash.Spawn(n, pool, path, nursery.Name(path))
		}
		return nil
	}, nursery.WithLimit(4**workers))
	if err != nil {
		return err
	}

	var total int64
	pids := map[int]bool{}
	for i, t := range tasks {
		d, _ := t.Wait() // Run succeeded: every task did
		fmt.Fprintf(stdout, "%s  %s\n", d.Sum, files[i])
		total += d.Size
		pids[d.Pid] = true
	}
	fmt.Fprintf(stderr, "hashed %d files (%d bytes) in %v in %d worker processes\n",
		len(files), total, time.Since(start).Round(time.Millisecond), len(pids))
	return pool.Close()
}

// collect lists the regular files under each directory in paths, in
// lexical order; other paths are kept as they are, for the workers to open
// (and to report if they cannot).
func collect(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil || !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}
