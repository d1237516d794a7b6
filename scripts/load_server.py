"""The load client of scripts/bench_server.sh: PORT CLIENTS SECONDS QUERIES_DIR."""
import asyncio
import datetime as dt
import pathlib
import random
import statistics
import sys
import time

import psycopg

port, clients, seconds, folder = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]


def kpi_query(text):
    """A catalog file's SQL, its $period_start / $period_end as psycopg parameters."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    body = body.replace("%", "%%")
    return body.replace("$period_start", "%(period_start)s").replace("$period_end", "%(period_end)s")


QUERIES = {p.stem: kpi_query(p.read_text()) for p in sorted(pathlib.Path(folder).glob("*.sql"))}
QUARTERS = [(2025, 1), (2025, 2), (2025, 3), (2025, 4), (2026, 1), (2026, 2), (2026, 3)]


def period(year, q):
    start = dt.datetime(year, 3 * q - 2, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=dt.timezone.utc)
    return {"period_start": start, "period_end": end}


async def client(n, deadline, latencies, errors):
    rng = random.Random(n)
    conn = await psycopg.AsyncConnection.connect(
        host="127.0.0.1", port=port, dbname="kpi", user="bench", password="bench-password",
        autocommit=True,
    )
    names = list(QUERIES)
    while time.monotonic() < deadline:
        name = rng.choice(names)
        params = period(*rng.choice(QUARTERS))
        start = time.perf_counter()
        try:
            cur = await conn.execute(QUERIES[name], params)
            await cur.fetchall()
            latencies.append(time.perf_counter() - start)
        except Exception as e:  # counted and reported, never hidden
            errors.append(f"{name}: {e}")
    await conn.close()


async def main():
    latencies, errors = [], []
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(client(n, deadline, latencies, errors) for n in range(clients)))
    took = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0] * 99
    print(f"clients: {clients}, duration: {took:.1f} s, queries: {len(latencies)} ok, {len(errors)} errors")
    print(f"latency: p50 {q[49]*1000:.1f} ms, p90 {q[89]*1000:.1f} ms, p99 {q[98]*1000:.1f} ms, max {max(latencies)*1000:.1f} ms")
    print(f"throughput: {len(latencies)/took:.1f} queries/s")
    for e in errors[:5]:
        print("error:", e)


asyncio.run(main())
