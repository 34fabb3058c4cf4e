#!/usr/bin/env bash
# Runs the benchmark suite once with -count, summarises it with benchstat and
# prints every row's ratio to guard's HS256 row plus the targets of issue 5.
#
#   ./run.sh                      # COUNT=6, all rows, output in results.txt
#   COUNT=10 BENCH=Guard ./run.sh # more counts, a subset of rows
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-6}
bench=${BENCH:-.}
out=${OUT:-results.txt}

{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(go version), nproc $(nproc)"
	go test -run '^$' -bench "$bench" -benchmem -count "$count" -timeout 0 .
} | tee "$out"

echo
echo "== benchstat"
go tool benchstat "$out"

echo
echo "== ratios"
go run ./cmd/ratios "$out"
