-- name: csat
-- title: Customer satisfaction (CSAT)
-- title.pt-BR: Satisfação do cliente (CSAT)
-- unit: percent
-- direction: higher_is_better
-- description: Of the tickets first resolved in the period that have a satisfaction score,
--   the share scored 4 or 5 (on 1 to 5).
-- description.pt-BR: Dos chamados resolvidos pela primeira vez no período que têm nota de
--   satisfação, a parcela com nota 4 ou 5 (de 1 a 5).
WITH rated AS (
    SELECT
        coalesce(team, '(none)') AS team,
        coalesce(channel, '(none)') AS channel,
        coalesce(assignee, '(none)') AS agent,
        csat_score >= 4 AS satisfied
    FROM tickets
    WHERE resolved_at >= $period_start
      AND resolved_at < $period_end
      AND csat_score IS NOT NULL
)
SELECT
    team,
    channel,
    agent,
    avg(CASE WHEN satisfied THEN 1.0 ELSE 0.0 END) AS value,
    count(*) FILTER (WHERE satisfied) AS numerator,
    count(*) AS denominator,
    count(*) AS n
FROM rated
GROUP BY GROUPING SETS ((), (team), (channel), (agent))
