-- name: first_contact_resolution
-- title: First-contact resolution
-- title.pt-BR: Resolução no primeiro contato
-- unit: percent
-- direction: higher_is_better
-- description: Of the tickets first resolved in the period, the share resolved with at most
--   one public reply from an agent and not reopened before the period's end.
-- description.pt-BR: Dos chamados resolvidos pela primeira vez no período, a parcela
--   resolvida com no máximo uma resposta pública de um agente e não reaberta até o fim do
--   período.
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
replies AS (
    SELECT e.ticket_id, e.source_system, count(*) AS replies
    FROM ticket_events e
    JOIN resolved r ON r.ticket_id = e.ticket_id AND r.source_system = e.source_system
    WHERE e.event_type = 'public_reply'
      AND e.actor_role = 'agent'
      AND e.ts <= r.resolved_at
    GROUP BY e.ticket_id, e.source_system
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
),
judged AS (
    SELECT
        r.team,
        r.channel,
        r.priority,
        r.agent,
        coalesce(p.replies, 0) <= 1 AND o.ticket_id IS NULL AS first_contact
    FROM resolved r
    LEFT JOIN replies p ON p.ticket_id = r.ticket_id AND p.source_system = r.source_system
    LEFT JOIN reopened o ON o.ticket_id = r.ticket_id AND o.source_system = r.source_system
)
SELECT
    team,
    channel,
    priority,
    agent,
    avg(CASE WHEN first_contact THEN 1.0 ELSE 0.0 END) AS value,
    count(*) FILTER (WHERE first_contact) AS numerator,
    count(*) AS denominator,
    count(*) AS n
FROM judged
GROUP BY GROUPING SETS ((), (team), (channel), (priority), (agent))
