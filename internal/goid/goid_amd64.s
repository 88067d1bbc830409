//go:build !purego

#include "textflag.h"

// func getg() uintptr
//
// An assembly function is called with ABI0, where the current g is found
// in thread-local storage rather than in R14.
TEXT ·getg(SB), NOSPLIT, $0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET
