// Package leaky leaks a nursery when NEWBIE14_LEAK is set, for leak_test.go
// in the parent package to run with go test; otherwise its tests pass.
package leaky

import (
	"context"
	"os"
	"testing"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserytest"
)

func TestMain(m *testing.M) {
	nurserytest.VerifyTestMain(m)
}

var stop = make(chan struct{})

func TestForgetsWait(t *testing.T) {
	if os.Getenv("NEWBIE14_LEAK") != "testmain" {
		t.Skip("set NEWBIE14_LEAK=testmain to leak")
	}
	n := nursery.New(context.Background(), nursery.WithName("jobs"))                     // site:jobs
	n.Go(func(ctx context.Context) error { <-stop; return nil }, nursery.Name("worker")) // site:worker
}

func TestForgetsWaitVerifyNone(t *testing.T) {
	if os.Getenv("NEWBIE14_LEAK") != "verifynone" {
		t.Skip("set NEWBIE14_LEAK=verifynone to leak")
	}
	defer nurserytest.VerifyNone(t)
	n := nursery.New(context.Background(), nursery.WithName("jobs"))                     // site:jobs2
	n.Go(func(ctx context.Context) error { <-stop; return nil }, nursery.Name("worker")) // site:worker2
}

func TestPlainGoroutineLeak(t *testing.T) {
	if os.Getenv("NEWBIE14_LEAK") != "goroutine" {
		t.Skip("set NEWBIE14_LEAK=goroutine to leak")
	}
	go func() { <-stop }()
}
