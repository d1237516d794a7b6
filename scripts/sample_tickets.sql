-- Converts the CSV written by scripts/sample_tickets.py into sample_data/data/tickets.parquet.
-- Run from the repository root:
--   python3 scripts/sample_tickets.py > /tmp/tickets.csv
--   cargo run --release -- sql -f scripts/sample_tickets.sql
CREATE EXTERNAL TABLE raw_tickets STORED AS CSV LOCATION '/tmp/tickets.csv'
OPTIONS ('format.has_header' 'true');

COPY (
  SELECT
    ticket_id,
    arrow_cast(created_at, 'Timestamp(µs, "UTC")') AS created_at,
    channel,
    team,
    priority,
    status,
    arrow_cast(first_response_at, 'Timestamp(µs, "UTC")') AS first_response_at,
    arrow_cast(resolved_at, 'Timestamp(µs, "UTC")') AS resolved_at,
    CAST(csat_score AS SMALLINT) AS csat_score
  FROM raw_tickets
  ORDER BY created_at
) TO 'sample_data/data/tickets.parquet' STORED AS PARQUET;
