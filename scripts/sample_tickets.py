#!/usr/bin/env python3
"""Write the bundled sample tickets (a small, deterministic help-desk history) as CSV.

Usage: python3 scripts/sample_tickets.py > /tmp/tickets.csv, then convert to Parquet with
`kpi sql` (see README.md, "The sample workspace"). Instants are UTC.
"""
import csv
import random
import sys
from datetime import datetime, timedelta, timezone

rng = random.Random(20260301)
TEAMS = ["billing", "tech", "onboarding"]
CHANNELS = ["email", "chat", "phone", "portal"]
PRIORITIES = ["low", "normal", "high", "urgent"]
start = datetime(2026, 1, 5, tzinfo=timezone.utc)
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["ticket_id", "created_at", "channel", "team", "priority", "status",
              "first_response_at", "resolved_at", "csat_score"])
t = start
for i in range(1, 601):
    # Arrivals mostly in Brazilian business hours (11:00-21:00 UTC) on weekdays.
    t += timedelta(minutes=rng.expovariate(1 / 330))
    while t.weekday() >= 5 and rng.random() < 0.8:
        t += timedelta(hours=rng.randint(3, 12))
    team = rng.choice(TEAMS)
    priority = rng.choices(PRIORITIES, weights=[3, 6, 2, 1])[0]
    first = t + timedelta(minutes=rng.lognormvariate(4.2, 1.1))
    resolved = first + timedelta(minutes=rng.lognormvariate(6.3, 1.2))
    status = "solved"
    if rng.random() < 0.08:
        status, resolved = "open", None
    if rng.random() < 0.03:
        first = None
    csat = rng.choice([5, 5, 4, 4, 3, 2, 1]) if resolved and rng.random() < 0.4 else None
    fmt = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ") if d else ""
    out.writerow([f"T{i:05d}", fmt(t), rng.choice(CHANNELS), team, priority, status,
                  fmt(first), fmt(resolved), csat if csat is not None else ""])
