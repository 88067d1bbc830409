// Package goid reports the identity of the calling goroutine.
//
// Go deliberately offers no goroutine identity. The nursery needs one only on
// slow paths, to answer "is the caller one of the goroutines that is already
// holding a slot of this scope?" before it decides whether blocking would
// deadlock. Parsing the header of runtime.Stack costs a few microseconds, so
// callers must keep it off hot paths: long-lived workers compute their own ID
// once, and submitters compute theirs only when they would otherwise block.
package goid

import "runtime"

// Get returns the ID of the calling goroutine, as printed in stack traces.
func Get() uint64 {
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
