#!/usr/bin/env bash
# The login-storm load test of issue 20: examples/server pinned to one core
# (GOMAXPROCS=1), the load generator (./loginstorm) pinned to another. It
# prints the bearer route's p50, p99 and req/s alone and during a storm of
# failing logins from 64 loopback addresses, and how many of those logins
# were evaluated and how many answered 503.
#
#   ./loginstorm.sh                         # SERVER_CPU=0 LOAD_CPU=1, idle 10s, storm 20s
#   ./loginstorm.sh -storm 40s -conns 16    # flags go to ./loginstorm (see its -h)
#   RUNS=3 ./loginstorm.sh                  # three runs, each on a fresh server
#   HASH_CPU_BUDGET=0.25 ./loginstorm.sh    # the server's hashing CPU budget (default 0.35)
#
# Needs Linux (taskset, loopback source addresses 127.0.0.x) and two cores.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
server_cpu=${SERVER_CPU:-0}
load_cpu=${LOAD_CPU:-1}
port=${PORT:-18000}
runs=${RUNS:-1}

tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$root" && go build -o "$tmp/server" ./examples/server)
go build -o "$tmp/loginstorm" ./loginstorm

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(go version), nproc $(nproc), commit $(git -C "$root" describe --always --dirty), server on CPU $server_cpu (GOMAXPROCS=1), load on CPU $load_cpu"
for run in $(seq "$runs"); do
	echo "## run $run"
	ADDR=127.0.0.1:$port HASH_CPU_BUDGET=${HASH_CPU_BUDGET:-} JWT_SECRET=$(head -c 32 /dev/urandom | base64) GOMAXPROCS=1 \
		taskset -c "$server_cpu" "$tmp/server" >"$tmp/server.log" 2>&1 &
	pid=$!
	taskset -c "$load_cpu" "$tmp/loginstorm" -url "http://127.0.0.1:$port" -server-procs 1 -budget "${HASH_CPU_BUDGET:-0.35}" "$@"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
done
