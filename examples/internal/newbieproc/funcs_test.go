package newbieproc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/structured-go/nursery/subprocess"
)

// Registered at package initialization, as the docs require.

var hashFile = subprocess.Register("newbie.hashFile", func(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
})

type Job struct {
	Mode string // "ok", "exit", "panic", "kill", "error", "wrapped"
	N    int
}

var ErrQuota = subprocess.RegisterError("newbie.ErrQuota", errors.New("newbie: quota exceeded"))

var flaky = subprocess.Register("newbie.flaky", func(ctx context.Context, j Job) (int, error) {
	switch j.Mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "flaky: giving up on job", j.N)
		os.Exit(3)
	case "panic":
		panic(fmt.Sprintf("flaky panic %d", j.N))
	case "panicerr":
		panic(fmt.Errorf("job %d: %w", j.N, ErrQuota))
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	case "error":
		return 0, fmt.Errorf("job %d: %w", j.N, ErrQuota)
	case "slow":
		select {
		case <-time.After(time.Duration(j.N) * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return j.N * 2, nil
})

// stubborn ignores its context.
var stubborn = subprocess.Register("newbie.stubborn", func(ctx context.Context, ms int) (int, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
})

// deadline reports the deadline its context carries in the worker.
var deadline = subprocess.Register("newbie.deadline", func(ctx context.Context, _ int) (time.Time, error) {
	d, _ := ctx.Deadline()
	return d, nil
})

type WithChan struct {
	Name string
	C    chan int
}

var badInput = subprocess.Register("newbie.badInput", func(ctx context.Context, in WithChan) (int, error) {
	return 1, nil
})
