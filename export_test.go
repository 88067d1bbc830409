package nursery

// WriteTreeNamed is WriteTree limited to the top-level nurseries with the
// given name, so that a test sees only its own nurseries.
var WriteTreeNamed = writeTreeNamed
