#!/usr/bin/env bash
# The quarterly review at scale: TICKETS generated tickets over the sample's seven quarters
# (2025-01-01 to 2026-09-30), ingested from the event log into a workspace with the sample's
# calendars, SLA policies and targets; then `kpi review --quarter 2026-Q3` (13 KPIs over five
# quarters, the target ladder from 2025-Q2) under the sample's 2 GB memory limit, with wall
# time and peak RSS (GNU time). `kpi run --all` for one quarter is timed as well. DuckDB has no
# equivalent of the review (business-time SLA clocks, targets, reports), so there is no
# yardstick run here; BENCHMARKS.md compares the SLA views with DuckDB (scripts/bench_sla.sh).
# Results go to BENCHMARKS.md by hand.
#
#   scripts/bench_review.sh [TICKETS] [WORKDIR]    # defaults: 1000000, a temporary folder
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
work=${2:-$(mktemp -d)}
kpi=${KPI_BIN:-$PWD/target/release/kpi} # KPI_BIN: an already built binary
as_of=2026-10-15T00:00:00Z

[ -n "${KPI_BIN:-}" ] || cargo build --release --quiet
mkdir -p "$work"
work=$(cd "$work" && pwd)

ws=$work/review-$tickets
if [ ! -d "$ws/data/ticket_events" ]; then
    exports=$work/review-exports-$tickets
    if [ ! -f "$exports/events.ndjson" ]; then
        echo "generating $tickets tickets into $exports"
        "$kpi" --workspace sample_data generate --tickets "$tickets" --seed 7 --bad-rows 0 \
            --from 2025-01-01 --days 638 --out "$exports"
    fi
    mkdir -p "$ws/holidays"
    cp sample_data/kpi.toml "$ws/kpi.toml"
    cp sample_data/holidays/* "$ws/holidays/"
    echo "ingesting events.ndjson into $ws"
    /usr/bin/time -f "ingest: %e s, peak RSS %M KB" \
        "$kpi" --workspace "$ws" ingest --source helpdesk_events "$exports/events.ndjson"
fi

timed() {
    local label=$1
    shift
    /usr/bin/time -f "$label: %e s wall, %U s user, peak RSS %M KB" "$@" >"$work/last.out"
}

echo "== kpi run --all --quarter 2026-Q3 ($tickets tickets)"
timed "run --all" "$kpi" --workspace "$ws" run --all --quarter 2026-Q3 --as-of "$as_of"
echo "== kpi review --quarter 2026-Q3 ($tickets tickets)"
timed "review" "$kpi" --workspace "$ws" review --quarter 2026-Q3 --as-of "$as_of" \
    --out "$work/review-out-$tickets"
cat "$work/last.out"
