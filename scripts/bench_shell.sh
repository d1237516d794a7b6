#!/usr/bin/env bash
# Start-up of the interactive shell: the time from starting `kpi sql` in a pseudo-terminal
# to its prompt on the screen, RUNS times (median, 90th percentile, slowest), on the bundled
# sample workspace or WORKSPACE. The terminal is played by a small Python program that answers
# the line editor's cursor-position query as a terminal would. Also times the first query and
# `\d` (which opens every Delta table's log). Results go to BENCHMARKS.md by hand.
#
#   scripts/bench_shell.sh [RUNS] [WORKSPACE]    # defaults: 30, sample_data
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
workspace=${2:-sample_data}
kpi=${KPI_BIN:-$PWD/target/release/kpi} # KPI_BIN: an already built binary
[ -n "${KPI_BIN:-}" ] || cargo build --release --quiet
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT

python3 - "$kpi" "$workspace" "$runs" "$home" <<'EOF'
import os, pty, select, statistics, sys, time

kpi, workspace, runs, home = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
QUERY = b"\x1b[6n"

def shell():
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(HOME=home, XDG_DATA_HOME=home, TERM="xterm", PAGER="cat", NO_COLOR="1")
        os.execv(kpi, [kpi, "--workspace", workspace, "sql"])
    return pid, fd

def until(fd, needle, seen):
    """Read until `needle` has appeared after `seen`, answering cursor queries."""
    buf = b""
    while needle not in buf:
        select.select([fd], [], [], 10)
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit("the shell ended: " + (seen + buf).decode(errors="replace"))
        buf += chunk
        while QUERY in buf:
            os.write(fd, b"\x1b[1;1R")
            buf = buf.replace(QUERY, b"", 1)
    return buf

def timed(label, samples):
    samples = sorted(samples)
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    print(f"{label:<32} median {statistics.median(samples) * 1000:7.1f} ms   "
          f"p90 {p90 * 1000:7.1f} ms   max {samples[-1] * 1000:7.1f} ms   ({len(samples)} runs)")

prompt, first, describe = [], [], []
for _ in range(runs):
    start = time.perf_counter()
    pid, fd = shell()
    until(fd, b"> ", b"")
    prompt.append(time.perf_counter() - start)
    t = time.perf_counter()
    os.write(fd, b"SELECT count(*) AS n FROM tickets;\r")
    until(fd, b"1 row", b"")
    first.append(time.perf_counter() - t)
    until(fd, b"> ", b"")
    t = time.perf_counter()
    os.write(fd, b"\\d\r")
    until(fd, b"rows: from the Delta log", b"")  # the line under the table
    describe.append(time.perf_counter() - t)
    os.write(fd, b"\\q\r")
    os.waitpid(pid, 0)
    os.close(fd)

timed("start-up to the prompt", prompt)
timed("first query (count of tickets)", first)
timed("\\d (every table, row counts)", describe)
EOF
