-- First response and resolution time in business hours per team, on the default calendar.
-- Run it on the bundled sample workspace with:  kpi sql -f queries/first_response_by_team.sql
SELECT
    team,
    count(*) AS tickets,
    round(avg(business_hours(created_at, first_response_at)), 2) AS avg_first_response_h,
    round(approx_percentile_cont(business_hours(created_at, first_response_at), 0.9), 2)
        AS p90_first_response_h,
    round(avg(business_hours(created_at, resolved_at)), 2) AS avg_resolution_h
FROM tickets
WHERE first_response_at IS NOT NULL
GROUP BY team
ORDER BY team;
