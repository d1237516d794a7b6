#!/usr/bin/env bash
# Ingest throughput and peak memory for the three export shapes, on exports written by
# `kpi generate`, with DuckDB's CSV→Parquet COPY as a yardstick when DuckDB is installed
# (`pip install duckdb`). Results go to BENCHMARKS.md by hand.
#
#   scripts/bench_ingest.sh [TICKETS] [WORKDIR]     # defaults: 1000000, a temporary folder
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
work=${2:-$(mktemp -d)}
kpi=target/release/kpi

cargo build --release --quiet
mkdir -p "$work"
if [ ! -f "$work/exports/tickets.csv" ]; then
    echo "generating $tickets tickets into $work/exports"
    "$kpi" generate --tickets "$tickets" --seed 1 --out "$work/exports"
fi

# Peak resident memory and wall time of one command, from GNU time's -v report.
measure() {
    local report
    report=$(mktemp)
    /usr/bin/time -v "$@" >/dev/null 2>"$report" || { cat "$report"; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$report")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$report")
    rm -f "$report"
    # m:ss.cc or h:mm:ss → seconds
    secs=$(echo "$wall" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    peak_mb=$((rss / 1024))
}

printf '\n%-10s %-16s %10s %10s %10s %12s %10s\n' shape file MB seconds MB/s rows/s peak-MB
for shape in tickets events snapshots; do
    case $shape in
        tickets) source=helpdesk_tickets file=tickets.csv ;;
        events) source=helpdesk_events file=events.ndjson ;;
        snapshots) source=servicenow_audit file=snapshots.csv ;;
    esac
    ws="$work/ws-$shape"
    rm -rf "$ws"
    mkdir -p "$ws"
    cat examples/mappings/"$shape".toml >"$ws/kpi.toml"
    path="$work/exports/$file"
    bytes=$(stat -c %s "$path")
    rows=$(($(wc -l <"$path") - 1))
    measure "$kpi" --workspace "$ws" ingest --source "$source" "$path"
    awk -v s="$shape" -v f="$file" -v b="$bytes" -v t="$secs" -v r="$rows" -v m="$peak_mb" \
        'BEGIN { printf "%-10s %-16s %10.1f %10.2f %10.1f %12.0f %10d\n", s, f, b / 1e6, t, b / 1e6 / t, r / t, m }'
    # A second run of the same file: everything is unchanged.
    measure "$kpi" --workspace "$ws" ingest --source "$source" "$path"
    awk -v s="$shape (again)" -v f="$file" -v b="$bytes" -v t="$secs" -v r="$rows" -v m="$peak_mb" \
        'BEGIN { printf "%-10s %-16s %10.1f %10.2f %10.1f %12.0f %10d\n", s, f, b / 1e6, t, b / 1e6 / t, r / t, m }'
done

if python3 -c "import duckdb" 2>/dev/null; then
    for file in tickets.csv snapshots.csv events.ndjson; do
        path="$work/exports/$file"
        bytes=$(stat -c %s "$path")
        reader="read_csv('$path')"
        [ "${file##*.}" = ndjson ] && reader="read_json('$path', format = 'newline_delimited')"
        measure python3 -c "import duckdb; duckdb.sql(\"COPY (SELECT * FROM $reader) TO '$work/duck.parquet' (FORMAT parquet)\")"
        awk -v f="$file" -v b="$bytes" -v t="$secs" -v m="$peak_mb" \
            'BEGIN { printf "%-10s %-16s %10.1f %10.2f %10.1f %12s %10d\n", "duckdb", f, b / 1e6, t, b / 1e6 / t, "-", m }'
    done
else
    echo "(DuckDB not installed: pip install duckdb for the yardstick)"
fi
