// Command distributed fans work out over NATS to worker processes, in a
// nursery, and prints which worker ran what.
//
// With no flags it starts everything itself: an embedded NATS server on a
// loopback port the OS chooses, two worker processes (this program again,
// with -worker) and the client:
//
//	go run ./examples/distributed
//
// Against a real NATS server or cluster, start workers on any machines and
// the client anywhere:
//
//	distributed -nats-url nats://nats.example:4222 -worker "$(hostname)"   # on each worker machine
//	distributed -nats-url nats://nats.example:4222 -workers 0              # the client
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
)

// workerName is set, before serving, in worker processes.
var workerName string

type primesResult struct {
	Count  int
	Worker string
}

// countPrimes counts the primes in [lo, hi): a CPU-bound job. Like every
// function that workers run, it is registered at package initialization.
var countPrimes = subprocess.Register("distributed.countPrimes", func(ctx context.Context, r [2]int) (primesResult, error) {
	n := 0
	for x := max(r[0], 2); x < r[1]; x++ {
		if x%1024 == 0 && ctx.Err() != nil {
			return primesResult{}, context.Cause(ctx)
		}
		prime := true
		for d := 2; d*d <= x; d++ {
			if x%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			n++
		}
	}
	return primesResult{Count: n, Worker: workerName}, nil
})

func main() {
	url := flag.String("nats-url", "", "NATS server URL; empty: start an embedded server on 127.0.0.1")
	worker := flag.String("worker", "", "run as a worker with this name, serving until SIGINT or SIGTERM")
	workers := flag.Int("workers", 2, "worker processes to start beside the client")
	jobs := flag.Int("jobs", 20, "jobs to fan out")
	flag.Parse()
	log.SetFlags(0)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *worker != "" {
		if err := serve(ctx, *url, *worker); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(ctx, *url, *workers, *jobs); err != nil {
		log.Fatal(err)
	}
}

// serve is the worker side.
func serve(ctx context.Context, url, name string) error {
	workerName = fmt.Sprintf("%s (pid %d)", name, os.Getpid())
	nc, err := nats.Connect(url, nats.Name("distributed worker "+name), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	return natsexec.Serve(ctx, nc, natsexec.WorkerName(workerName))
}

// run is the client side: it starts the server and workers it was asked
// to, then fans the jobs out in a nursery.
func run(ctx context.Context, url string, workers, jobs int) error {
	if url == "" {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
		if err != nil {
			return err
		}
		s.Start()
		defer func() { s.Shutdown(); s.WaitForShutdown() }()
		if !s.ReadyForConnections(10 * time.Second) {
			return errors.New("embedded NATS server did not start")
		}
		url = s.ClientURL()
		fmt.Println("embedded NATS server at", url)
	}

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	procCtx, killWorkers := context.WithCancel(context.Background())
	defer killWorkers()
	var procs []*subprocess.Cmd
	for i := range workers {
		cmd := subprocess.Command(procCtx, exe, "-nats-url", url, "-worker", fmt.Sprintf("w%d", i+1))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
	}
	defer func() {
		for _, cmd := range procs {
			cmd.Process.Signal(syscall.SIGTERM) // Serve stops gracefully
		}
		for _, cmd := range procs {
			cmd.Wait()
		}
	}()

	nc, err := nats.Connect(url, nats.Name("distributed client"))
	if err != nil {
		return err
	}
	defer nc.Close()
	pool, err := natsexec.NewPool(nc)
	if err != nil {
		return err
	}
	defer pool.Close()

	const span = 200_000
	start := time.Now()
	tasks := make([]*nursery.Task[primesResult], jobs)
	err = nursery.Run(ctx, func(n *nursery.Nursery) error {
		for i := range jobs {
			tasks[i] = countPrimes.Spawn(n, pool, [2]int{i * span, (i + 1) * span})
		}
		return nil
	})
	if err != nil {
		return err
	}
	total := 0
	for i, task := range tasks {
		r, _ := task.Wait() // Run returned nil: every task succeeded
		fmt.Printf("job %2d: %5d primes in [%d, %d)   ran on %s\n", i, r.Count, i*span, (i+1)*span, r.Worker)
		total += r.Count
	}
	fmt.Printf("%d primes below %d in %v\n", total, jobs*span, time.Since(start).Round(time.Millisecond))
	return nil
}
