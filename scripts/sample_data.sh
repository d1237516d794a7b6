#!/usr/bin/env bash
# Regenerate the bundled sample workspace's tables (sample_data/data/) from scratch:
# a synthetic event log from `kpi generate`, loaded by `kpi ingest` through the workspace's own
# `helpdesk_events` mapping. Deterministic: the same command gives the same rows.
#
#   scripts/sample_data.sh            (builds the release binary)
#   KPI_BIN=target/debug/kpi scripts/sample_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."

kpi=${KPI_BIN:-}
if [ -z "$kpi" ]; then
    cargo build --release --quiet
    kpi=target/release/kpi
fi
exports=$(mktemp -d)
trap 'rm -rf "$exports"' EXIT

"$kpi" --workspace sample_data generate --tickets 5000 --seed 42 --from 2025-01-01 --days 638 \
    --out "$exports"
rm -rf sample_data/data
# The event log alone: its events fill ticket_events, and tickets are derived from them.
"$kpi" --workspace sample_data ingest --source helpdesk_events "$exports/events.ndjson"
rm -f sample_data/data/.ingest.lock
# The logs' informational commitInfo records where the tables were written; keep this
# machine's path out of the repository.
sed -i "s#file://$PWD/sample_data/data/#file:///sample_data/data/#g" sample_data/data/*/_delta_log/*.json
du -sh sample_data/data
