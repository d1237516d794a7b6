-- name: resolution_hours_median
-- title: Median business hours to resolution
-- title.pt-BR: Mediana de horas úteis até a resolução
-- unit: hours
-- direction: lower_is_better
-- description: The median of business hours to resolution (paused time excluded) over the clocks
--   that stopped in the period, in the calendar of each ticket's SLA policy.
-- description.pt-BR: A mediana das horas úteis até a resolução (sem o tempo em pausa) dos
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
    WHERE s.metric = 'resolution'
      AND s.stopped_at >= $period_start
      AND s.stopped_at < $period_end
)
SELECT
    team,
    channel,
    inbox,
    priority,
    agent,
    median(hours) AS value,
    count(*) AS n
FROM clocks
GROUP BY GROUPING SETS ((), (team), (channel), (inbox), (priority), (agent))
