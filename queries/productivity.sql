-- name: productivity
-- title: Tickets resolved per agent per business hour
-- title.pt-BR: Chamados resolvidos por agente por hora útil
-- unit: ratio
-- direction: higher_is_better
-- description: Tickets first resolved in the period ÷ (agents who resolved them × business
--   hours of the period in the default calendar); per agent, that agent's tickets ÷ the
--   business hours.
-- description.pt-BR: Chamados resolvidos pela primeira vez no período ÷ (agentes que os
--   resolveram × horas úteis do período no calendário padrão); por agente, os chamados
--   dele ÷ as horas úteis.
WITH resolved AS (
    SELECT
        coalesce(team, '(none)') AS team,
        assignee AS agent
    FROM tickets
    WHERE resolved_at >= $period_start
      AND resolved_at < $period_end
      AND assignee IS NOT NULL
),
period AS (
    SELECT business_hours($period_start, $period_end) AS hours
)
SELECT
    team,
    agent,
    count(*) / (count(DISTINCT agent) * max(p.hours)) AS value,
    count(*) AS numerator,
    count(DISTINCT agent) * max(p.hours) AS denominator,
    count(*) AS n
FROM resolved
CROSS JOIN period p
GROUP BY GROUPING SETS ((), (team), (agent))
