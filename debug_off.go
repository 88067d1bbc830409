//go:build nursery_nodebug

package nursery

// debugBuild: see debug_on.go.
const debugBuild = false
