package goid

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGetIsStablePerGoroutine(t *testing.T) {
	me := Get()
	assert.NotZero(t, me)
	assert.Equal(t, me, Get())
}

// Every live goroutine has its own identity, and keeps it.
func TestGetIsDistinctAmongLiveGoroutines(t *testing.T) {
	const n = 1000
	ids := make([]uint64, n)
	var started, wg sync.WaitGroup
	release := make(chan struct{})
	started.Add(n)
	for i := range n {
		wg.Go(func() {
			ids[i] = Get()
			started.Done()
			<-release // keep every goroutine alive until all have looked
			if Get() != ids[i] {
				ids[i] = 0
			}
		})
	}
	started.Wait()
	seen := make(map[uint64]bool, n+1)
	seen[Get()] = true
	for _, id := range ids {
		require.NotZero(t, id)
		require.False(t, seen[id], "two live goroutines share identity %#x", id)
		seen[id] = true
	}
	close(release)
	wg.Wait()
	for i, id := range ids {
		assert.NotZero(t, id, "goroutine %d saw its identity change", i)
	}
}

func TestStackIDParsesTheTraceHeader(t *testing.T) {
	id := stackID()
	assert.NotZero(t, id)
	assert.Equal(t, id, stackID())
	var other uint64
	var wg sync.WaitGroup
	wg.Go(func() { other = stackID() })
	wg.Wait()
	assert.NotEqual(t, id, other)
}

func BenchmarkGet(b *testing.B) {
	for b.Loop() {
		_ = Get()
	}
}

func BenchmarkStackID(b *testing.B) {
	for b.Loop() {
		_ = stackID()
	}
}
