-- name: backlog
-- title: Backlog at period end
-- title.pt-BR: Backlog no fim do período
-- unit: count
-- direction: lower_is_better
-- description: Tickets open (neither resolved nor closed) at the end of the period,
--   whenever they were created.
-- description.pt-BR: Chamados em aberto (nem resolvidos nem fechados) no fim do período,
--   qualquer que seja a data de abertura.
WITH open_at_end AS (
    SELECT
        coalesce(t.team, '(none)') AS team,
        coalesce(t.channel, '(none)') AS channel,
        coalesce(t.inbox, '(none)') AS inbox,
        coalesce(t.priority, '(none)') AS priority,
        coalesce(t.assignee, '(none)') AS agent
    FROM ticket_status_intervals i
    JOIN tickets t ON t.ticket_id = i.ticket_id AND t.source_system = i.source_system
    WHERE i.entered_at < $period_end
      AND (i.left_at IS NULL OR i.left_at >= $period_end)
      AND i.status NOT IN ('resolved', 'closed')
)
SELECT
    team,
    channel,
    inbox,
    priority,
    agent,
    count(*) AS value,
    count(*) AS n
FROM open_at_end
GROUP BY GROUPING SETS ((), (team), (channel), (inbox), (priority), (agent))
