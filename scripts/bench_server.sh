#!/usr/bin/env bash
# Load on `kpi serve`: CLIENTS concurrent connections (psycopg 3, one asyncio task each) run
# the bundled KPI queries — each with a random quarter of the sample's history bound as server
# side parameters, as a BI tool refreshing a dashboard does — back to back for SECONDS on
# loopback. Prints errors (with the first messages), p50/p90/p99 latency, throughput and the
# server's peak resident memory (VmHWM). Results go to BENCHMARKS.md by hand.
#
#   scripts/bench_server.sh [CLIENTS] [SECONDS] [WORKSPACE]   # defaults: 50, 60, sample_data
#
# The server runs from a copy of WORKSPACE with one analyst user; psycopg is installed into a
# virtual environment under target/ when no Python with it is given (KPI_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-50}
seconds=${2:-60}
workspace=${3:-sample_data}
kpi=${KPI_BIN:-$PWD/target/release/kpi} # KPI_BIN: an already built binary
[ -n "${KPI_BIN:-}" ] || cargo build --release --quiet

python=${KPI_PYTHON:-}
if [ -z "$python" ] || ! "$python" -c "import psycopg" 2>/dev/null; then
    venv=$PWD/target/bench-venv
    if [ ! -x "$venv/bin/python" ]; then
        echo "installing psycopg into $venv" >&2
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q "psycopg[binary]"
    python=$venv/bin/python
fi

dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
cp -r "$workspace"/. "$dir"
echo "bench-password" | "$kpi" -w "$dir" user add bench --role analyst --password-stdin >/dev/null
"$kpi" -w "$dir" serve --listen 127.0.0.1:0 2>"$dir/server.log" &
server=$!
port=""
for _ in $(seq 1 300); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$dir/server.log" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$dir/server.log" >&2; exit 1; }

"$python" scripts/load_server.py "$port" "$clients" "$seconds" queries
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{printf "%.0f MiB", $2/1024}')"
kill -TERM "$server"
wait "$server" || true
