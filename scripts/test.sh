#!/usr/bin/env bash
# Runs every check the project makes, on a machine with nothing but Go:
# formatting, vet, staticcheck, go.mod tidiness, the race-enabled tests of
# every module, a short fuzz run, and one iteration of every benchmark.
# Tools are fetched through the Go module proxy at pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2
# A count, not a duration: with a duration, Go 1.26's fuzzing coordinator
# can report its own end-of-fuzztime deadline as a failure ("context
# deadline exceeded", no crasher; golang/go#75804, fixed in Go 1.27).
# 20 000 inputs take about 12 s here.
FUZZTIME=${FUZZTIME:-20000x}

# Every module in the repository: the library and the ones beside it that
# keep their dependencies (peer libraries, NATS) out of the library's go.mod.
modules=(.)
for m in bench natsexec; do
	[ -f "$m/go.mod" ] && modules+=("$m")
done

step() { printf '\n== %s\n' "$*"; }

step gofmt
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

for m in "${modules[@]}"; do
	step "go mod tidy -diff ($m)"
	(cd "$m" && go mod tidy -diff)
	step "go vet ($m)"
	(cd "$m" && go vet ./...)
	step "staticcheck ($m)"
	(cd "$m" && go run "$STATICCHECK" ./...)
done

step "binary size: a minimal nursery.Run program within 10% of context+WaitGroup"
bash scripts/size.sh

step "cross-compile (windows, darwin, arm64, 386: every goroutine-identity variant)"
GOOS=windows go build ./...
GOOS=darwin go build ./...
GOARCH=arm64 go vet . ./internal/goid
GOARCH=386 go vet . ./internal/goid
go vet -tags nursery_nodebug .   # the build without debug mode's hook (bench/README.md)

for m in "${modules[@]}"; do
	[ "$m" = bench ] && continue
	step "go test -race -shuffle=on ($m)"
	(cd "$m" && go test -race -shuffle=on -count=1 ./...)
done

step "go test -tags purego (the portable goroutine identity, as on other architectures)"
go test -tags purego -count=1 . ./internal/goid

step "fuzz FuzzTree, $FUZZTIME"
go test -run '^$' -fuzz '^FuzzTree$' -fuzztime "$FUZZTIME" .

step "fuzz the subprocess frame parser and the supervisor, $FUZZTIME"
go test -run '^$' -fuzz '^FuzzFrame$' -fuzztime "$FUZZTIME" ./subprocess
go test -run '^$' -fuzz '^FuzzSupervisor$' -fuzztime "$FUZZTIME" ./supervisor

step "fuzz the natsexec codec and message parsers, $FUZZTIME"
for target in FuzzDecode FuzzRoundTrip FuzzMessages; do
	(cd natsexec && go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" .)
done

step "benchmarks, one iteration each (bench module)"
(cd bench && go test -run '^$' -bench . -benchtime 1x ./...)
