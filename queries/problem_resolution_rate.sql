-- name: problem_resolution_rate
-- title: Problem resolution rate
-- title.pt-BR: Taxa de resolução de problemas
-- unit: percent
-- direction: higher_is_better
-- description: Of the tickets created in the period, the share that were resolved or
--   closed at the period's end.
-- description.pt-BR: Dos chamados abertos no período, a parcela resolvida ou fechada no
--   fim do período.
WITH at_end AS (
    -- Each ticket's status at the end of the period: the stay that contains it.
    SELECT ticket_id, source_system, status
    FROM ticket_status_intervals
    WHERE entered_at < $period_end
      AND (left_at IS NULL OR left_at >= $period_end)
),
created AS (
    SELECT
        coalesce(t.team, '(none)') AS team,
        coalesce(t.channel, '(none)') AS channel,
        coalesce(t.priority, '(none)') AS priority,
        e.status IN ('resolved', 'closed') AS solved
    FROM tickets t
    JOIN at_end e ON e.ticket_id = t.ticket_id AND e.source_system = t.source_system
    WHERE t.created_at >= $period_start
      AND t.created_at < $period_end
)
SELECT
    team,
    channel,
    priority,
    avg(CASE WHEN solved THEN 1.0 ELSE 0.0 END) AS value,
    count(*) FILTER (WHERE solved) AS numerator,
    count(*) AS denominator,
    count(*) AS n
FROM created
GROUP BY GROUPING SETS ((), (team), (channel), (priority))
