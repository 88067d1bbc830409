package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	assert.Equal(t, `presence: ann is online
dashboard: ann has 3 orders and 7 messages
files: /README /etc/hosts /home/ann/notes.txt /home/ann/todo.txt
presence: ann is offline
`, out.String())
}

func TestListFilesError(t *testing.T) {
	_, err := listFiles(t.Context(), "/nope/")
	assert.EqualError(t, err, "walk /nope/: /nope/: no such directory")
}
