-- name: resolution_compliance
-- title: Resolution SLA compliance
-- title.pt-BR: Cumprimento do SLA de resolução
-- unit: percent
-- direction: higher_is_better
-- description: Of the resolution clocks started in the period, the share that met their target:
--   met ÷ (met + breached), as they stood at the period's end. Clocks still running within
--   their target are left out; clocks running past it count as breached.
-- description.pt-BR: Dos relógios de resolução iniciados no período, a parcela que cumpriu a
--   meta: cumpridos ÷ (cumpridos + violados), como estavam no fim do período.
WITH clocks AS (
    SELECT
        coalesce(t.team, '(none)') AS team,
        coalesce(t.channel, '(none)') AS channel,
        coalesce(t.inbox, '(none)') AS inbox,
        coalesce(t.priority, '(none)') AS priority,
        coalesce(t.assignee, '(none)') AS agent,
        s.stage = 'met' AS met,
        s.breached
    FROM ticket_sla s
    JOIN tickets t ON t.ticket_id = s.ticket_id AND t.source_system = s.source_system
    WHERE s.metric = 'resolution'
      AND s.started_at >= $period_start
      AND s.started_at < $period_end
)
SELECT
    team,
    channel,
    inbox,
    priority,
    agent,
    CAST(count(*) FILTER (WHERE met) AS DOUBLE)
        / nullif(count(*) FILTER (WHERE met OR breached), 0) AS value,
    count(*) FILTER (WHERE met) AS numerator,
    count(*) FILTER (WHERE met OR breached) AS denominator,
    count(*) AS n
FROM clocks
GROUP BY GROUPING SETS ((), (team), (channel), (inbox), (priority), (agent))
