#!/usr/bin/env bash
# Runs the benchmark suite once with -count, summarises it with benchstat and
# prints every row's ratio to guard's HS256 row plus the targets of issues 5
# and 20.
#
#   ./run.sh                      # COUNT=6, all rows, output in results.txt
#   COUNT=10 BENCH=Guard ./run.sh # more counts, a subset of rows
#   INTERLEAVE=1 ./run.sh         # COUNT passes of -count 1 over all rows, so
#                                 # load that comes and goes hits every row alike
#
# Profiles of one row, CPU and allocations in separate runs (a memory profile
# of every allocation slows the CPU profile's code):
#
#   go test -run '^$' -bench 'GuardHS256Success$' -benchtime 3s -cpuprofile cpu.out
#   go tool pprof -top -cum bench.test cpu.out
#   go test -run '^$' -bench 'GuardHS256Success$' -memprofile mem.out -memprofilerate 1
#   go tool pprof -top -sample_index=alloc_objects bench.test mem.out
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-6}
bench=${BENCH:-.}
out=${OUT:-results.txt}

{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(go version), nproc $(nproc), COUNT=$count INTERLEAVE=${INTERLEAVE:-0}"
	if [ "${INTERLEAVE:-0}" = 1 ]; then
		bin=$(mktemp -d)/bench.test
		go test -c -o "$bin" .
		for _ in $(seq "$count"); do
			"$bin" -test.run '^$' -test.bench "$bench" -test.benchmem -test.count 1 -test.timeout 0
		done
		rm -rf "$(dirname "$bin")"
	else
		go test -run '^$' -bench "$bench" -benchmem -count "$count" -timeout 0 .
	fi
} | tee "$out"

echo
echo "== benchstat"
go tool benchstat "$out"

echo
echo "== ratios"
go run ./cmd/ratios "$out"
