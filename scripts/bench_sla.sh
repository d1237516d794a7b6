#!/usr/bin/env bash
# The SLA views at scale: `SELECT metric, stage, count(*) FROM ticket_sla GROUP BY 1, 2`, the
# same over the three clock metrics only, one policy, and one team through a join with
# `tickets`, over TICKETS generated tickets (and COPIES times as many, the same history under
# other ticket ids), under a 2 GB memory limit, with wall time and peak RSS. DuckDB computing
# first_response, first_resolution and resolution (with pauses) through ASOF joins against a
# precomputed table of business intervals is the yardstick, in the same run on the same files.
# DuckDB's Python package is installed into a virtual environment (WORKDIR/venv) if absent.
# Results go to BENCHMARKS.md by hand.
#
#   scripts/bench_sla.sh [TICKETS] [WORKDIR] [COPIES]    # defaults: 1000000, a temporary folder, 10
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
work=${2:-$(mktemp -d)}
copies=${3:-10}
kpi=${KPI_BIN:-$PWD/target/release/kpi} # KPI_BIN: an already built binary
as_of=2026-04-01T00:00:00Z # the end of the generated period (90 days from 2026-01-01)
limit=2G

[ -n "${KPI_BIN:-}" ] || cargo build --release --quiet
mkdir -p "$work"
work=$(cd "$work" && pwd)

# A workspace with the sample's calendars and SLA policies (four teams) and its own data.
workspace() {
    mkdir -p "$1/holidays"
    cp sample_data/kpi.toml "$1/kpi.toml"
    cp sample_data/holidays/* "$1/holidays/"
}

ws=$work/ws-$tickets
if [ ! -d "$ws/data/ticket_events" ]; then
    if [ ! -f "$work/exports/events.ndjson" ]; then
        echo "generating $tickets tickets into $work/exports"
        "$kpi" --workspace sample_data generate --tickets "$tickets" --seed 7 --bad-rows 0 --out "$work/exports"
    fi
    workspace "$ws"
    echo "ingesting events.ndjson into $ws"
    "$kpi" --workspace "$ws" ingest --source helpdesk_events "$work/exports/events.ndjson"
fi

# COPIES times the history, as Parquet folders (ticket ids suffixed with the copy number).
big=$work/ws-$tickets-x$copies
if [ "$copies" -gt 1 ] && [ ! -d "$big/data/ticket_events" ]; then
    workspace "$big"
    mkdir -p "$big/data/tickets" "$big/data/ticket_events"
    echo "writing $copies copies of the history into $big"
    for ((k = 0; k < copies; k++)); do
        "$kpi" --workspace "$ws" sql -c "
            COPY (SELECT * REPLACE (ticket_id || '-$k' AS ticket_id) FROM tickets)
                TO '$big/data/tickets/part-$k.parquet' STORED AS PARQUET;
            COPY (SELECT * EXCLUDE (month) REPLACE (ticket_id || '-$k' AS ticket_id,
                                                  event_id || '-$k' AS event_id)
                  FROM ticket_events)
                TO '$big/data/ticket_events/part-$k.parquet' STORED AS PARQUET" >/dev/null
    done
fi

# DuckDB: business intervals of br-sp (the sample's default calendar) with cumulative sums,
# precomputed by kpi from its calendar, minute by minute (not timed).
intervals=$work/br-sp-intervals.parquet
if [ ! -f "$intervals" ]; then
    "$kpi" --workspace "$ws" sql -c "
        COPY (
            WITH m AS (
                SELECT ts, is_business_time(ts, 'br-sp') AS b,
                       lag(is_business_time(ts, 'br-sp')) OVER (ORDER BY ts) AS pb
                FROM (SELECT unnest(generate_series(TIMESTAMP '2025-12-01T00:00:00',
                      TIMESTAMP '2026-05-01T00:00:00', INTERVAL '1 minute')) AS ts)),
            s AS (SELECT ts, row_number() OVER (ORDER BY ts) AS i FROM m WHERE b AND (pb IS NULL OR NOT pb)),
            e AS (SELECT ts, row_number() OVER (ORDER BY ts) AS i FROM m WHERE NOT b AND pb)
            SELECT CAST(to_unixtime(s.ts) AS BIGINT) AS s, CAST(to_unixtime(e.ts) AS BIGINT) AS e,
                   CAST(sum(to_unixtime(e.ts) - to_unixtime(s.ts)) OVER (ORDER BY s.ts) AS BIGINT)
                     - (CAST(to_unixtime(e.ts) AS BIGINT) - CAST(to_unixtime(s.ts) AS BIGINT)) AS cum
            FROM s JOIN e USING (i) ORDER BY s
        ) TO '$intervals' STORED AS PARQUET" >/dev/null
fi

# Data prepared; BENCH_PREPARE_ONLY=1 stops here (to measure later on a quiet machine).
if [ "${BENCH_PREPARE_ONLY:-0}" = 1 ]; then
    echo "prepared $work"
    exit 0
fi

# Peak resident memory and wall time of one command, from GNU time's -v report.
measure() {
    local report
    report=$(mktemp)
    if ! /usr/bin/time -v "$@" >"$work/last.out" 2>"$report"; then
        # A failure (out of memory, say) is reported, and the run goes on.
        grep -v '^\s' "$report" | head -5 >"$work/last.out"
    fi
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$report")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$report")
    rm -f "$report"
    secs=$(echo "$wall" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    peak_mb=$((rss / 1024))
}

queries=(
    "all metrics|SELECT metric, stage, count(*) FROM ticket_sla GROUP BY 1, 2"
    "three clocks|SELECT metric, stage, count(*) FROM ticket_sla WHERE metric IN ('first_response', 'first_resolution', 'resolution') GROUP BY 1, 2"
    "first_response|SELECT stage, count(*) FROM ticket_sla WHERE metric = 'first_response' GROUP BY 1"
    "one policy|SELECT metric, stage, count(*) FROM ticket_sla WHERE policy = 'infra' GROUP BY 1, 2"
    "one team (join)|SELECT s.metric, s.stage, count(*) FROM ticket_sla s JOIN tickets t USING (ticket_id, source_system) WHERE t.team = 'infra' GROUP BY 1, 2"
)

run_kpi() {
    local w=$1 label=$2
    local n events
    n=$("$kpi" --workspace "$w" sql --format csv -c "SELECT count(*) FROM tickets" | tail -1)
    events=$("$kpi" --workspace "$w" sql --format csv -c "SELECT count(*) FROM ticket_events" | tail -1)
    echo
    echo "== $label: $n tickets, $events events, as of $as_of, memory limit $limit"
    printf '%-18s %10s %10s\n' query seconds peak-MB
    for q in "${queries[@]}"; do
        measure "$kpi" --workspace "$w" sql --as-of "$as_of" --memory-limit "$limit" --format csv -c "${q#*|}"
        printf '%-18s %10.2f %10d\n' "${q%%|*}" "$secs" "$peak_mb"
    done
    echo "(last result:)"
    cat "$work/last.out"
}

duck_sql() {
    local data=$1 tickets_glob=$2 events_glob=$3
    cat <<SQL
CREATE TEMP TABLE iv AS SELECT * FROM read_parquet('$intervals');
WITH ev AS (
    SELECT ticket_id, source_system, epoch(ts)::BIGINT AS t, event_id, to_status
    FROM read_parquet('$data/$events_glob')
    WHERE to_status IS NOT NULL AND epoch(ts) <= epoch(TIMESTAMPTZ '$as_of')),
st AS (
    SELECT ticket_id, source_system, t AS entered, to_status AS status,
           lead(t) OVER w AS left_, lag(to_status) OVER w AS prev
    FROM ev WINDOW w AS (PARTITION BY ticket_id, source_system ORDER BY t, event_id)),
stop AS (
    SELECT ticket_id, source_system,
        max(CASE WHEN status IN ('resolved', 'closed')
                  AND (prev IS NULL OR prev NOT IN ('resolved', 'closed')) THEN entered END) AS last_entry,
        bool_or(left_ IS NULL AND status IN ('resolved', 'closed')) AS done_now
    FROM st GROUP BY ALL),
tk AS (
    SELECT t.ticket_id, t.source_system, epoch(created_at)::BIGINT AS c,
        CASE WHEN epoch(first_response_at) <= epoch(TIMESTAMPTZ '$as_of') THEN epoch(first_response_at)::BIGINT END AS fr,
        CASE WHEN epoch(resolved_at) <= epoch(TIMESTAMPTZ '$as_of') THEN epoch(resolved_at)::BIGINT END AS fres,
        CASE WHEN s.done_now THEN s.last_entry END AS res
    FROM read_parquet('$data/$tickets_glob') t LEFT JOIN stop s USING (ticket_id, source_system)
    WHERE epoch(created_at) <= epoch(TIMESTAMPTZ '$as_of')),
m AS (
    SELECT ticket_id, source_system, 'first_response' AS metric, c AS a,
           coalesce(fr, epoch(TIMESTAMPTZ '$as_of')::BIGINT) AS b, fr IS NOT NULL AS stopped, 14400 AS target, false AS pausable FROM tk
    UNION ALL
    SELECT ticket_id, source_system, 'first_resolution', c, coalesce(fres, epoch(TIMESTAMPTZ '$as_of')::BIGINT), fres IS NOT NULL, 97200, true FROM tk
    UNION ALL
    SELECT ticket_id, source_system, 'resolution', c, coalesce(res, epoch(TIMESTAMPTZ '$as_of')::BIGINT), res IS NOT NULL, 97200, true FROM tk),
ba AS (SELECT m.*, iv.cum + least(m.a - iv.s, iv.e - iv.s) AS ca FROM m ASOF JOIN iv ON m.a >= iv.s),
bb AS (SELECT ba.*, iv.cum + least(ba.b - iv.s, iv.e - iv.s) AS cb FROM ba ASOF JOIN iv ON ba.b >= iv.s),
p AS (
    SELECT m.ticket_id, m.source_system, m.metric, greatest(st.entered, m.a) AS pa,
           least(coalesce(st.left_, epoch(TIMESTAMPTZ '$as_of')::BIGINT), m.b) AS pb
    FROM m JOIN st USING (ticket_id, source_system)
    WHERE m.pausable AND st.status IN ('pending', 'on_hold') AND st.entered < m.b
      AND coalesce(st.left_, epoch(TIMESTAMPTZ '$as_of')::BIGINT) > m.a),
pa AS (SELECT p.*, iv.cum + least(p.pa - iv.s, iv.e - iv.s) AS ca FROM p ASOF JOIN iv ON p.pa >= iv.s),
pb AS (SELECT pa.*, iv.cum + least(pa.pb - iv.s, iv.e - iv.s) AS cb FROM pa ASOF JOIN iv ON pa.pb >= iv.s),
paused AS (SELECT ticket_id, source_system, metric, sum(cb - ca) AS paused FROM pb GROUP BY ALL)
SELECT metric, CASE WHEN el > target THEN 'breached' WHEN stopped THEN 'met' ELSE 'running' END AS stage, count(*)
FROM (SELECT bb.*, (cb - ca) - coalesce(paused.paused, 0) AS el
      FROM bb LEFT JOIN paused USING (ticket_id, source_system, metric))
GROUP BY ALL ORDER BY ALL;
SQL
}

python=python3
if ! python3 -c "import duckdb" 2>/dev/null; then
    if [ ! -x "$work/venv/bin/python" ]; then
        echo "installing DuckDB's Python package into $work/venv"
        python3 -m venv "$work/venv"
        "$work/venv/bin/pip" install --quiet duckdb
    fi
    python=$work/venv/bin/python
fi

run_duckdb() {
    local data=$1 tickets_glob=$2 events_glob=$3
    duck_sql "$data" "$tickets_glob" "$events_glob" >"$work/duck.sql"
    measure "$python" -c "
import duckdb, sys
con = duckdb.connect()
con.execute(\"SET memory_limit = '$limit'\")
statements = open('$work/duck.sql').read().split(';')
for s in statements[:-2]:
    con.execute(s)
for row in con.execute(statements[-2]).fetchall():
    print(*row)
"
    printf '%-18s %10.2f %10d\n' "duckdb three clocks" "$secs" "$peak_mb"
    cat "$work/last.out"
}

run_kpi "$ws" "$tickets tickets (Delta)"
run_duckdb "$ws/data" "tickets/*.parquet" "ticket_events/*/*.parquet"
if [ "$copies" -gt 1 ]; then
    run_kpi "$big" "$copies × $tickets tickets (Parquet)"
    run_duckdb "$big/data" "tickets/*.parquet" "ticket_events/*.parquet"
fi
