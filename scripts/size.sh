#!/usr/bin/env bash
# Binary size of the lean core: a minimal program that calls nursery.Run
# must stay within 10% of the same program written with context and
# sync.WaitGroup (issue 14). Both print their result with fmt, so fmt is
# in both; anything else the core links — log/slog, net/http,
# encoding/json, runtime/pprof, a pool it does not use — would show here.
# Builds are made as `go build` makes them by default (symbols and DWARF
# included) and stripped (-ldflags=-s -w); both must hold.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
limit=${SIZE_LIMIT_PERCENT:-10}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
cat >go.mod <<MOD
module sizecheck

go 1.26.0

require github.com/structured-go/nursery v0.0.0

replace github.com/structured-go/nursery => $root
MOD
mkdir waitgroup nursery
cat >waitgroup/main.go <<'GO'
package main

import (
	"context"
	"fmt"
	"sync"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = ctx })
	wg.Wait()
	fmt.Println(ctx.Err())
}
GO
cat >nursery/main.go <<'GO'
package main

import (
	"context"
	"fmt"

	"github.com/structured-go/nursery"
)

func main() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return nil })
		return nil
	})
	fmt.Println(err)
}
GO
# The module's own go.sum covers its requirements (testify, goleak), which
# a program that only imports the root package never builds.
cp "$root/go.sum" .

fail=0
for flags in "" "-s -w"; do
	go build -ldflags="$flags" -o wg.bin ./waitgroup
	go build -ldflags="$flags" -o nursery.bin ./nursery
	base=$(wc -c <wg.bin)
	size=$(wc -c <nursery.bin)
	pct=$(awk -v a="$size" -v b="$base" 'BEGIN { printf "%.1f", (a / b - 1) * 100 }')
	echo "ldflags=\"$flags\": context+WaitGroup $base B, nursery.Run $size B: +$pct% (limit +$limit%)"
	if awk -v p="$pct" -v l="$limit" 'BEGIN { exit !(p > l) }'; then
		fail=1
	fi
done
if [ "$fail" = 1 ]; then
	echo "size.sh: the minimal nursery.Run program is more than $limit% larger" >&2
	go list -deps ./nursery | grep -v -x -F -f <(go list -deps ./waitgroup) >&2 || true
	exit 1
fi
