package newbie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/structured-go/nursery"
)

// fetch GETs url with a per-request deadline, as the README suggests
// (FailAfter: "Fail if a call is too slow").
func fetch(ctx context.Context, client *http.Client, url string, d time.Duration) (string, error) {
	var body string
	err := nursery.FailAfter(ctx, d, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err
	})
	return body, err
}

type downloadServer struct {
	*httptest.Server
	inflight, maxInflight atomic.Int32
}

func newDownloadServer(t *testing.T) *downloadServer {
	s := &downloadServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for {
			m := s.maxInflight.Load()
			if cur <= m || s.maxInflight.CompareAndSwap(m, cur) {
				break
			}
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/slow"):
			<-r.Context().Done() // never answers
		case r.URL.Path == "/missing":
			http.NotFound(w, r)
		default:
			time.Sleep(5 * time.Millisecond)
			fmt.Fprintf(w, "body of %s", r.URL.Path)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// A bounded parallel downloader: Map with WithLimit(3) and CollectErrors, a
// per-request FailAfter, and a progress counter.
func TestDownloaderCollect(t *testing.T) {
	srv := newDownloadServer(t)
	client := srv.Client()
	defer client.CloseIdleConnections()

	var urls []string
	for i := range 10 {
		urls = append(urls, fmt.Sprintf("%s/file%d", srv.URL, i))
	}
	urls = append(urls, srv.URL+"/slow", srv.URL+"/missing")

	var done atomic.Int32
	results, err := nursery.Map(context.Background(), urls, func(ctx context.Context, u string) (string, error) {
		defer done.Add(1)
		return fetch(ctx, client, u, 200*time.Millisecond)
	}, nursery.WithLimit(3), nursery.CollectErrors(), nursery.WithName("download"))

	t.Logf("Map error:\n%v", err)
	if got := done.Load(); got != int32(len(urls)) {
		t.Errorf("progress = %d, want %d", got, len(urls))
	}
	if m := srv.maxInflight.Load(); m > 3 {
		t.Errorf("max in flight = %d, want <= 3", m)
	}
	for i := range 10 {
		if want := fmt.Sprintf("body of /file%d", i); results[i] != want {
			t.Errorf("results[%d] = %q, want %q", i, results[i], want)
		}
	}
	if results[10] != "" || results[11] != "" {
		t.Errorf("failed results should be zero: %q %q", results[10], results[11])
	}
	if !errors.Is(err, nursery.ErrTimeout) {
		t.Errorf("err does not match ErrTimeout: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err does not match DeadlineExceeded: %v", err)
	}
	// Map: "the error names the failed input's index".
	for _, want := range []string{"index 10", "index 11", "404 Not Found"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// Default fail-fast: the first failure (404) cancels the in-flight slow
// download, and the slow one's cancellation is not reported.
func TestDownloaderFailFast(t *testing.T) {
	srv := newDownloadServer(t)
	client := srv.Client()
	defer client.CloseIdleConnections()

	urls := []string{srv.URL + "/slow1", srv.URL + "/slow2", srv.URL + "/missing"}
	start := time.Now()
	_, err := nursery.Map(context.Background(), urls, func(ctx context.Context, u string) (string, error) {
		return fetch(ctx, client, u, 10*time.Second)
	}, nursery.WithLimit(3))
	if time.Since(start) > 5*time.Second {
		t.Errorf("fail-fast took %v", time.Since(start))
	}
	t.Logf("err: %v", err)
	if err == nil || !strings.Contains(err.Error(), "index 2") || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("err = %v, want index 2's 404", err)
	}
	if errors.Is(err, nursery.ErrTimeout) || strings.Contains(err.Error(), "index 0") {
		t.Errorf("siblings' cancellation was reported: %v", err)
	}
}
