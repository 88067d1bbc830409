//go:build (amd64 || arm64) && !purego

package goid

// getg returns the address of the calling goroutine's descriptor, the
// runtime's g (goid_amd64.s, goid_arm64.s). It is kept as an integer: the
// garbage collector must not see it as a pointer.
func getg() uintptr

func get() uint64 { return uint64(getg()) }
