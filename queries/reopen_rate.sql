-- name: reopen_rate
-- title: Reopen rate
-- title.pt-BR: Taxa de reabertura
-- unit: percent
-- direction: lower_is_better
-- description: Of the tickets first resolved in the period, the share that went back to an
--   unresolved status before the period's end.
-- description.pt-BR: Dos chamados resolvidos pela primeira vez no período, a parcela que
--   voltou a um status não resolvido antes do fim do período.
WITH resolved AS (
    SELECT
        ticket_id,
        source_system,
        resolved_at,
        coalesce(team, '(none)') AS team,
        coalesce(channel, '(none)') AS channel,
        coalesce(priority, '(none)') AS priority,
        coalesce(assignee, '(none)') AS agent
    FROM tickets
    WHERE resolved_at >= $period_start
      AND resolved_at < $period_end
),
reopened AS (
    -- Tickets that went back to an unresolved status after their first resolution, before
    -- the end of the period.
    SELECT DISTINCT i.ticket_id, i.source_system
    FROM ticket_status_intervals i
    JOIN resolved r ON r.ticket_id = i.ticket_id AND r.source_system = i.source_system
    WHERE i.entered_at > r.resolved_at
      AND i.entered_at < $period_end
      AND i.status NOT IN ('resolved', 'closed')
)
SELECT
    r.team,
    r.channel,
    r.priority,
    r.agent,
    avg(CASE WHEN o.ticket_id IS NULL THEN 0.0 ELSE 1.0 END) AS value,
    count(o.ticket_id) AS numerator,
    count(*) AS denominator,
    count(*) AS n
FROM resolved r
LEFT JOIN reopened o ON o.ticket_id = r.ticket_id AND o.source_system = r.source_system
GROUP BY GROUPING SETS ((), (r.team), (r.channel), (r.priority), (r.agent))
