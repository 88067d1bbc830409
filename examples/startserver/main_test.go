package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	first, rest, _ := strings.Cut(out.String(), "\n")
	assert.Regexp(t, regexp.MustCompile(`^server listening on 127\.0\.0\.1:[0-9]+$`), first)
	assert.Equal(t, "reply: HELLO\nreply: STRUCTURED\nreply: CONCURRENCY\n", rest)
}

// Stopping the server closes the connections still open, and waits for their
// handlers: the client sees the connection closed.
func TestStopClosesOpenConnections(t *testing.T) {
	n := nursery.New(t.Context())
	addr, err := nursery.Start(n, serve("127.0.0.1:0"))
	require.NoError(t, err)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	fmt.Fprintln(c, "ping")
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "PING\n", line)

	n.Cancel(nil)
	require.NoError(t, n.Wait()) // cancelling is not failing
	_, err = r.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF)
}

// A server that fails before it is ready fails Start, not the nursery.
func TestStartFailsBeforeReady(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()

	n := nursery.New(t.Context())
	_, err = nursery.Start(n, serve(taken.Addr().String()))
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.NoError(t, n.Wait())
}
