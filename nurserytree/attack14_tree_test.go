package nurserytree_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
)

// Write, JSON and the Handler run while nurseries of every kind — plain,
// debug, limited, with status, nested through contexts and debug tasks,
// with Task.Cancel and failures — come and go: no race, always a valid
// document.
func TestAttack14TreeViewsWhileNurseriesChurn(t *testing.T) {
	srv := httptest.NewServer(nurserytree.Handler())
	defer srv.Close()
	stop := make(chan struct{})
	var views sync.WaitGroup
	views.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			require.NoError(t, nurserytree.Write(io.Discard))
			b, err := nurserytree.JSON()
			require.NoError(t, err)
			var doc struct{ Nurseries []map[string]any }
			require.NoError(t, json.Unmarshal(b, &doc))
		}
	})
	views.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, q := range []string{"", "?format=json", "?format=text"} {
				resp, err := http.Get(srv.URL + q)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		}
	})
	var status atomic.Int64
	for i := range 300 {
		opts := [][]nursery.Option{
			nil,
			{nurserydebug.On(), nursery.WithName("churn-dbg")},
			{nursery.WithLimit(2), nursery.WithStatus(func() string { return fmt.Sprint(status.Add(1)) })},
			{nursery.WithName("churn"), nursery.CollectErrors()},
		}[i%4]
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			tk := nursery.Spawn(n, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, context.Cause(ctx)
			}, nursery.Name("cancel-me"))
			for j := range 4 {
				n.Go(func(ctx context.Context) error {
					return nursery.Run(ctx, func(c *nursery.Nursery) error {
						c.Go(func(context.Context) error {
							if j == 3 && i%5 == 0 {
								return fmt.Errorf("fail %d", i)
							}
							return nil
						})
						return nil
					}, nursery.WithName(fmt.Sprint("inner-", j)))
				})
			}
			tk.Cancel(nil)
			return nil
		}, opts...)
		if i%5 == 0 && i%4 != 3 {
			require.Error(t, err)
		}
	}
	close(stop)
	views.Wait()
	srv.CloseClientConnections()
}

// A Spawned debug task cancelled alone with Task.Cancel shows as
// cancelling while it runs; its siblings and nursery stay running.
func TestAttack14TaskCancelInTree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		n := nursery.New(t.Context(), nurserydebug.On(), nursery.WithName("tc14"))
		tk := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			<-release // keeps running after its cancellation
			return 0, nil
		}, nursery.Name("victim"))
		n.Go(func(context.Context) error { <-release; return nil }, nursery.Name("sibling"))
		synctest.Wait()
		tk.Cancel(nil)
		synctest.Wait()
		var b strings.Builder
		require.NoError(t, nurserytree.WriteNamed(&b, "tc14"))
		out := b.String()
		assert.Contains(t, out, `nursery "tc14": running`)
		assert.Contains(t, out, `task "victim": cancelling`)
		assert.Contains(t, out, `task "sibling": running`)
		close(release)
		require.NoError(t, n.Wait())
	})
}

// A nursery shows its number of tasks, queued ones included, in debug mode
// as outside it (debug mode showed only the tasks that had begun: 1 here
// instead of 2; it still lists only those).
func TestAttack14TreeRunningCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		block := func(context.Context) error { <-release; return nil }
		for _, tc := range []struct {
			name string
			opts []nursery.Option
		}{
			{"rc14-plain", nil},
			{"rc14-debug", []nursery.Option{nurserydebug.On()}},
		} {
			n := nursery.New(t.Context(), append(tc.opts, nursery.WithName(tc.name), nursery.WithLimit(1))...)
			for range 2 {
				n.Go(block)
			}
			synctest.Wait()
			b, err := nurserytree.JSON()
			require.NoError(t, err)
			var doc struct {
				Nurseries []struct {
					Name    string
					Running int
				}
			}
			require.NoError(t, json.Unmarshal(b, &doc))
			found := false
			for _, nn := range doc.Nurseries {
				if nn.Name == tc.name {
					found = true
					// Tasks: one running, one queued behind WithLimit(1).
					assert.Equal(t, 2, nn.Running)
				}
			}
			assert.True(t, found)
			defer func() { require.NoError(t, n.Wait()) }()
		}
		close(release)
	})
}
