// Package goid reports the identity of the calling goroutine.
//
// Go deliberately offers no goroutine identity. The nursery needs one to
// answer "is the caller one of the goroutines already holding a slot of
// this scope?" before it decides whether blocking would deadlock, and it
// asks that question every time a caller would block, so the answer must
// be cheap.
//
// On amd64 and arm64 the identity is the address of the runtime's
// goroutine descriptor, read from the register or thread-local slot where
// the runtime keeps it: a couple of instructions, and nothing about the
// descriptor's layout is assumed. A descriptor is reused only after its
// goroutine has exited, so an identity is unique among live goroutines —
// which is all a caller may rely on: forget a goroutine's identity before
// it exits. Elsewhere (or with the purego build tag) the identity is the
// goroutine number parsed from the header of runtime.Stack, which costs
// microseconds.
package goid

import "runtime"

// Get returns an identity of the calling goroutine: never 0, stable for
// the goroutine's life, and distinct from that of every other live
// goroutine.
func Get() uint64 { return get() }

// stackID returns the goroutine number printed in the header of the
// calling goroutine's stack trace.
func stackID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	const prefix = "goroutine "
	if n <= len(prefix) {
		return 0
	}
	var id uint64
	for _, c := range buf[len(prefix):n] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
