//go:build !(amd64 || arm64) || purego

package goid

func get() uint64 { return stackID() }
