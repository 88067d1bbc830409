//go:build !nursery_nodebug

package nursery

// debugBuild is false only in builds with the tag nursery_nodebug, which
// leave debug mode's hook out of the core entirely. That build exists to
// measure what the hook costs nurseries outside debug mode (bench/README.md);
// debug mode cannot be turned on in it.
const debugBuild = true
