-- name: first_response_hours_p90
-- title: P90 business hours to first response
-- title.pt-BR: P90 de horas úteis até a primeira resposta
-- unit: hours
-- direction: lower_is_better
-- description: The 90th percentile of business hours to first response (paused time excluded) over the clocks
--   that stopped in the period, in the calendar of each ticket's SLA policy.
-- description.pt-BR: O percentil 90 das horas úteis até a primeira resposta (sem o tempo em pausa) dos
--   relógios encerrados no período, no calendário da política de SLA de cada chamado.
WITH clocks AS (
    SELECT
        coalesce(t.team, '(none)') AS team,
        coalesce(t.channel, '(none)') AS channel,
        coalesce(t.inbox, '(none)') AS inbox,
        coalesce(t.priority, '(none)') AS priority,
        coalesce(t.assignee, '(none)') AS agent,
        s.business_elapsed_seconds / 3600.0 AS hours
    FROM ticket_sla s
    JOIN tickets t ON t.ticket_id = s.ticket_id AND t.source_system = s.source_system
    WHERE s.metric = 'first_response'
      AND s.stopped_at >= $period_start
      AND s.stopped_at < $period_end
)
SELECT
    team,
    channel,
    inbox,
    priority,
    agent,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) AS value,
    count(*) AS n
FROM clocks
GROUP BY GROUPING SETS ((), (team), (channel), (inbox), (priority), (agent))
