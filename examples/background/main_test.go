package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// gatedMailer sends nothing until release is closed, then fails for the
// addresses in fail and succeeds for the others. It also fails if its context
// was cancelled while it waited: a job must not be cut off by shutdown.
func gatedMailer(release <-chan struct{}, fail map[string]error) Mailer {
	return func(ctx context.Context, to, subject string) error {
		<-release
		if err := ctx.Err(); err != nil {
			return err
		}
		return fail[to]
	}
}

func signup(t *testing.T, c *http.Client, baseURL, email string) string {
	t.Helper()
	resp, err := c.PostForm(baseURL+"/signup", url.Values{"email": {email}})
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "body: %s", body)
	return string(body)
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return lines
}

// The handler answers before the email is sent, and the jobs nursery's Wait
// waits for every email.
func TestHandlerHandsWorkToJobs(t *testing.T) {
	var log bytes.Buffer
	release := make(chan struct{})
	jobs := nursery.New(t.Context(), nursery.WithName("jobs"), nursery.CollectErrors())
	app := &App{jobs: jobs, log: &syncWriter{w: &log}, mail: gatedMailer(release, nil)}
	srv := httptest.NewServer(app.Routes())

	for _, email := range []string{"ann@example.com", "bob@example.com", "cid@example.com"} {
		assert.Equal(t, "welcome email to "+email+" queued\n", signup(t, srv.Client(), srv.URL, email))
	}
	resp, err := srv.Client().PostForm(srv.URL+"/signup", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Every response is in, and no email has been sent: the work outlived the requests.
	assert.Empty(t, log.String())
	close(release)
	srv.Close()
	require.NoError(t, jobs.Wait())
	assert.Equal(t, []string{
		"sent welcome email to ann@example.com",
		"sent welcome email to bob@example.com",
		"sent welcome email to cid@example.com",
	}, sortedLines(log.String()))
}

// A failed background job is not lost: jobs.Wait reports it, with the task's
// name, and the other jobs still complete.
func TestFailedJobReachesWait(t *testing.T) {
	errMailboxFull := errors.New("mailbox full")
	var log bytes.Buffer
	release := make(chan struct{})
	close(release)
	jobs := nursery.New(t.Context(), nursery.WithName("jobs"), nursery.CollectErrors())
	app := &App{jobs: jobs, log: &syncWriter{w: &log},
		mail: gatedMailer(release, map[string]error{"bounce@example.com": errMailboxFull})}
	srv := httptest.NewServer(app.Routes())
	signup(t, srv.Client(), srv.URL, "ann@example.com")
	signup(t, srv.Client(), srv.URL, "bounce@example.com")
	signup(t, srv.Client(), srv.URL, "cid@example.com")
	srv.Close()

	err := jobs.Wait()
	require.ErrorIs(t, err, errMailboxFull)
	assert.EqualError(t, err, "jobs: welcome bounce@example.com: mailbox full")
	assert.Equal(t, []string{
		"sent welcome email to ann@example.com",
		"sent welcome email to cid@example.com",
	}, sortedLines(log.String()))
}

// run shuts down on cancellation (Ctrl-C in main) without cutting off the
// jobs that requests queued before it.
func TestRunFinishesQueuedJobsOnShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var log bytes.Buffer
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = run(ctx, ln, &syncWriter{w: &log}, gatedMailer(release, nil)) })

	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	signup(t, client, base, "ann@example.com")
	signup(t, client, base, "bob@example.com")
	cancel()       // Ctrl-C while both emails are still pending
	close(release) // the mailer checks that its context was not cancelled
	wg.Wait()
	require.NoError(t, runErr)
	assert.Equal(t, []string{
		"sent welcome email to ann@example.com",
		"sent welcome email to bob@example.com",
		"server stopped; finishing background jobs",
	}, sortedLines(log.String()))
}
