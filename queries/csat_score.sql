-- name: csat_score
-- title: Mean satisfaction score
-- title.pt-BR: Nota média de satisfação
-- unit: score
-- direction: higher_is_better
-- description: The mean satisfaction score (1 to 5) of the tickets first resolved in the
--   period that have one.
-- description.pt-BR: A nota média de satisfação (1 a 5) dos chamados resolvidos pela
--   primeira vez no período que têm nota.
WITH rated AS (
    SELECT
        coalesce(team, '(none)') AS team,
        coalesce(channel, '(none)') AS channel,
        coalesce(assignee, '(none)') AS agent,
        csat_score
    FROM tickets
    WHERE resolved_at >= $period_start
      AND resolved_at < $period_end
      AND csat_score IS NOT NULL
)
SELECT
    team,
    channel,
    agent,
    avg(csat_score) AS value,
    sum(csat_score) AS numerator,
    count(*) AS denominator,
    count(*) AS n
FROM rated
GROUP BY GROUPING SETS ((), (team), (channel), (agent))
