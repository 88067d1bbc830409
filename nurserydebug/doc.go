// Package nurserydebug is debug mode for nurseries: spawn sites and paths
// in every error and panic, pprof labels and execution-trace regions per
// task, reports of slow tasks, slow Waits and nurseries never waited, and
// each task's name, age and site in the live tree (package nurserytree).
//
// Turn it on for one nursery and everything created inside it with [On]:
//
//	err := nursery.Run(ctx, serve, nurserydebug.On())
//
// or for every nursery of the process with the environment variable
// NURSERY_DEBUG=1, which works in any program that imports this package or
// nurserytree (nurserytest imports it, so tests can always use it):
//
//	NURSERY_DEBUG=1 go test ./...
//
// It sits beside package nursery rather than in it so that programs that
// never debug never link it: the core knows debug mode only as one hook,
// nil outside it, and a nursery outside debug mode costs the same whether
// or not this package is linked (the bench module measures both).
package nurserydebug
