#!/usr/bin/env bash
# Ingest throughput and peak memory for the three export shapes, on exports written by
# `kpi generate`, against DuckDB's CSV→Parquet COPY of the same files measured in the same run.
# DuckDB's Python package is installed into a virtual environment (target/bench-venv) when no
# Python with it is found. Results go to BENCHMARKS.md by hand.
#
#   scripts/bench_ingest.sh [TICKETS] [WORKDIR]     # defaults: 1000000, a temporary folder
#
# KPI_BIN picks another binary (default: a release build made first); KPI_PYTHON a Python that
# has duckdb. Each shape is ingested into an empty workspace holding only its example mapping,
# then the same file again (everything unchanged); `--timings` shows each step's time.
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
work=${2:-$(mktemp -d)}
if [ -z "${KPI_BIN:-}" ]; then
    cargo build --release --quiet
    KPI_BIN=target/release/kpi
fi
kpi=$KPI_BIN

python=${KPI_PYTHON:-python3}
if ! "$python" -c "import duckdb" 2>/dev/null; then
    venv=target/bench-venv
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
        echo "DuckDB's Python package is not installed: installing it into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet duckdb
    fi
    python=$venv/bin/python
fi
echo "DuckDB $("$python" -c 'import duckdb; print(duckdb.__version__)') ($python)"

mkdir -p "$work"
if [ ! -f "$work/exports/tickets.csv" ]; then
    echo "generating $tickets tickets into $work/exports"
    "$kpi" generate --tickets "$tickets" --seed 1 --out "$work/exports"
fi

# Peak resident memory and wall time of one command, from GNU time's -v report; the command's
# standard error (step timings) is kept in $steps.
measure() {
    local report
    report=$(mktemp)
    steps=$(mktemp)
    /usr/bin/time -v -o "$report" "$@" >/dev/null 2>"$steps" || { cat "$steps" "$report"; exit 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$report")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$report")
    rm -f "$report"
    # m:ss.cc or h:mm:ss → seconds
    secs=$(echo "$wall" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    peak_mb=$((rss / 1024))
}

declare -A duck
for file in tickets.csv snapshots.csv events.ndjson; do
    path="$work/exports/$file"
    reader="read_csv('$path', all_varchar = true)"
    [ "${file##*.}" = ndjson ] && reader="read_json('$path', format = 'newline_delimited', ignore_errors = true)"
    measure "$python" -c "import duckdb; duckdb.sql(\"COPY (SELECT * FROM $reader) TO '$work/duck.parquet' (FORMAT parquet)\")"
    duck[$file]=$secs
    rm -f "$work/duck.parquet" "$steps"
done

printf '\n%-18s %-14s %9s %9s %8s %11s %8s %8s\n' shape file MB seconds MB/s rows/s peak-MB "×DuckDB"
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
    rows=$(wc -l <"$path")
    [ "${file##*.}" = ndjson ] || rows=$((rows - 1)) # the CSV header
    for run in first again; do
        measure "$kpi" --workspace "$ws" ingest --timings --source "$source" "$path"
        label=$shape
        [ $run = again ] && label="$shape (again)"
        awk -v s="$label" -v f="$file" -v b="$bytes" -v t="$secs" -v r="$rows" -v m="$peak_mb" -v d="${duck[$file]}" \
            'BEGIN { printf "%-18s %-14s %9.1f %9.2f %8.1f %11.0f %8d %8.1f\n", s, f, b / 1e6, t, b / 1e6 / t, r / t, m, t / d }'
        sed 's/^/      /' "$steps"
        rm -f "$steps"
    done
done
for file in tickets.csv snapshots.csv events.ndjson; do
    printf '%-18s %-14s %9s %9.2f\n' duckdb "$file" "" "${duck[$file]}"
done
