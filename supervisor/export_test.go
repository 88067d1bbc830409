package supervisor

// WithRand exposes the jitter's source to the tests.
var WithRand = withRand
