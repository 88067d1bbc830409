package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Under synctest the fake network's delays are exact.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, run(t.Context(), &out))
		assert.Equal(t, `    0s  attempt 1: dialling [2001:db8::1]:443
 250ms  attempt 2: dialling [2001:db8::2]:443
 260ms  attempt 2: dial [2001:db8::2]:443: connection refused
 260ms  attempt 3: dialling 192.0.2.1:443
 290ms  attempt 3: connected
attempt 1 [2001:db8::1]:443  cancelled
attempt 2 [2001:db8::2]:443  failed: dial [2001:db8::2]:443: connection refused
attempt 3 192.0.2.1:443      connected
attempt 4 192.0.2.2:443      never started
connected to 192.0.2.1:443
`, out.String())
	})
}

func nolog(string, ...any) {}

func TestConnect(t *testing.T) {
	errRefused := errors.New("connection refused")
	tests := []struct {
		name     string
		dial     func(context.Context, string) (*Conn, error)
		want     string // address connected to
		outcomes []string
		wantErr  []error // errors.Is targets
	}{
		{
			name: "the fastest attempt wins even if it started later",
			dial: func(ctx context.Context, addr string) (*Conn, error) {
				d := map[string]time.Duration{"a": time.Second, "b": 10 * time.Millisecond}[addr]
				select {
				case <-time.After(d):
					return &Conn{addr: addr}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
			want:     "b",
			outcomes: []string{"cancelled", "connected"},
		},
		{
			name: "every attempt refused: all errors",
			dial: func(ctx context.Context, addr string) (*Conn, error) {
				return nil, errRefused
			},
			outcomes: []string{"failed: connection refused", "failed: connection refused"},
			wantErr:  []error{errRefused},
		},
		{
			name: "every attempt hangs: timeout",
			dial: func(ctx context.Context, addr string) (*Conn, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			},
			outcomes: []string{"cancelled", "cancelled"},
			wantErr:  []error{nursery.ErrTimeout, context.DeadlineExceeded},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, outcomes, err := connect(t.Context(), []string{"a", "b"}, 250*time.Millisecond, 2*time.Second, tt.dial, nolog)
				assert.Equal(t, tt.outcomes, outcomes)
				if tt.wantErr != nil {
					for _, target := range tt.wantErr {
						assert.ErrorIs(t, err, target)
					}
					assert.Nil(t, c)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.want, c.addr)
			})
		})
	}
}
