//go:build race

package nursery_test

// attack14bRace: the race detector doubles the stack guard, so every
// goroutine outgrows 2 KB at once and the stack checks mean nothing.
const attack14bRace = true
