package goid_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/structured-go/nursery/internal/goid"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGetIsStablePerGoroutineAndDistinctAcross(t *testing.T) {
	me := goid.Get()
	assert.NotZero(t, me)
	assert.Equal(t, me, goid.Get())

	var other uint64
	var wg sync.WaitGroup
	wg.Go(func() { other = goid.Get() })
	wg.Wait()
	assert.NotZero(t, other)
	assert.NotEqual(t, me, other)
}
