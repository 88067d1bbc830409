#!/usr/bin/env bash
# What debug mode's hook costs nurseries outside debug mode: the Core
# family's nursery cases, built as usual and with the tag nursery_nodebug
# (which leaves the hook out of the core), interleaved ROUNDS times, then
# compared with benchstat. Issue 14's bar: no ratio moves by more than 5 %.
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-6}
CASES=${CASES:-'BenchmarkCore/(spawn-100|spawn-10000|empty|failfast-100)/impl=nursery'}
BS='go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da'
out=$(mktemp -d)
go test -c -o "$out/hook.test" .
go test -c -tags nursery_nodebug -o "$out/nohook.test" .
for _ in $(seq "$ROUNDS"); do
	"$out/nohook.test" -test.run '^$' -test.bench "$CASES" -test.benchtime 1s >>"$out/nohook.txt"
	"$out/hook.test" -test.run '^$' -test.bench "$CASES" -test.benchtime 1s >>"$out/hook.txt"
done
cd "$out" && $BS nohook.txt hook.txt
