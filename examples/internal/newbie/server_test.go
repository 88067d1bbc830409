package newbie

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/structured-go/nursery"
)

// serveHTTP is a Start function: it binds addr, announces the bound address
// with ready, serves until its context ends, then shuts down gracefully
// (in-flight requests complete) under Shield.
func serveHTTP(addr string, h http.Handler) func(ctx context.Context, ready func(string)) error {
	return func(ctx context.Context, ready func(string)) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h}
		ready(ln.Addr().String())
		return nursery.Run(ctx, func(n *nursery.Nursery) error {
			// The shutdown task first: Go on a nursery whose context is
			// already done does not run its function, so started the other
			// way round, a cancellation between the two calls would leave
			// the server serving with nothing to shut it down.
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return nursery.Shield(ctx, 5*time.Second, srv.Shutdown)
			}, nursery.Name("shutdown"))
			n.Go(func(ctx context.Context) error {
				if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			}, nursery.Name("serve"))
			return nil
		}, nursery.WithName("http"))
	}
}

func TestStartHTTPServerGracefulShutdown(t *testing.T) {
	inHandler := make(chan struct{})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		io.WriteString(w, "slow done")
	})

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(ctx context.Context, url string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	var slowBody string
	var afterShutdownErr error
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		addr, err := nursery.Start(n, serveHTTP("127.0.0.1:0", mux), nursery.Name("server"))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Errorf("addr = %q", addr)
		}
		body, err := get(n.Context(), "http://"+addr+"/hello")
		if err != nil || body != "hello" {
			t.Errorf("GET /hello = %q, %v", body, err)
		}
		// A slow request is in flight when the server is told to stop.
		slow := nursery.Spawn(n, func(ctx context.Context) (string, error) {
			// Not the nursery's context: the request must outlive Cancel.
			return get(context.WithoutCancel(ctx), "http://"+addr+"/slow")
		}, nursery.Name("slow-client"))
		<-inHandler
		n.Cancel(nil)
		// Shutdown closes the listener at once; new connections are refused.
		time.Sleep(50 * time.Millisecond)
		_, afterShutdownErr = get(context.Background(), "http://"+addr+"/hello")
		close(release)
		slowBody, err = slow.Wait()
		return err
	}, nursery.WithName("app"))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if slowBody != "slow done" {
		t.Errorf("in-flight request got %q, want it completed", slowBody)
	}
	if afterShutdownErr == nil {
		t.Errorf("a request after shutdown began succeeded")
	}
}

// A server that cannot bind: Start returns the error, and the nursery is
// not failed ("that outcome is Start's alone").
func TestStartPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var startErr error
	err = nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		_, startErr = nursery.Start(n, serveHTTP(ln.Addr().String(), http.NotFoundHandler()), nursery.Name("server"))
		if n.Context().Err() != nil {
			t.Errorf("nursery cancelled by a failed Start: %v", context.Cause(n.Context()))
		}
		return nil
	})
	if err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if startErr == nil || !strings.Contains(startErr.Error(), "address already in use") {
		t.Errorf("Start err = %v", startErr)
	}
	t.Logf("Start err: %v", startErr)
}
