package nurserytree

// WriteNamed is Write limited to the top-level nurseries with the given
// name, so that a test sees only its own nurseries.
var WriteNamed = writeNamed
