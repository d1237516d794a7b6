"""psycopg 3 and SQLAlchemy against `kpi serve` (run by tests/it/server.rs).

Usage: python_clients.py PORT — the server has the users of the test: ana (analyst) and dash
(viewer). Exits non-zero on the first wrong answer.
"""
import datetime
import decimal
import sys

import psycopg
import sqlalchemy as sa

port = int(sys.argv[1])
dsn = dict(host="127.0.0.1", port=port, dbname="kpi")

with psycopg.connect(**dsn, user="ana", password="ana-password", autocommit=True) as conn:
    # The simple protocol: values bound on the client, one Query message.
    with psycopg.ClientCursor(conn) as cur:
        cur.execute("SELECT count(*) FROM tickets WHERE priority = %s", ("high",))
        simple = cur.fetchone()[0]
    # The extended protocol: server-side parameters (Parse, Bind, Execute).
    extended = conn.execute(
        "SELECT count(*) FROM tickets WHERE priority = %s", ("high",)
    ).fetchone()[0]
    assert simple == extended == 1166, (simple, extended)
    # Prepared on the server, run again.
    for _ in range(3):
        row = conn.execute(
            "SELECT count(*) FROM tickets WHERE priority = %s", ("low",), prepare=True
        ).fetchone()
    assert row[0] > 0, row

    # A timestamptz round-trips: sent as a parameter, compared with the stored instant.
    created = conn.execute(
        "SELECT created_at FROM tickets ORDER BY ticket_id LIMIT 1"
    ).fetchone()[0]
    assert created.tzinfo is not None, created
    same = conn.execute(
        "SELECT count(*) FROM tickets WHERE created_at = %s", (created,)
    ).fetchone()[0]
    assert same >= 1, (created, same)
    moved = created.astimezone(datetime.timezone(datetime.timedelta(hours=-3)))
    again = conn.execute(
        "SELECT count(*) FROM tickets WHERE created_at = %s", (moved,)
    ).fetchone()[0]
    assert again == same, (moved, again)

    # A numeric, NULLs and booleans, both ways.
    n, nothing, text, yes, no = conn.execute(
        "SELECT %s::numeric, %s::int, %s::text, %s::boolean, %s::boolean",
        (decimal.Decimal("12.34"), None, None, True, False),
    ).fetchone()
    assert n == decimal.Decimal("12.34") and nothing is None and text is None, (n, nothing, text)
    assert yes is True and no is False, (yes, no)
    resolved = conn.execute(
        "SELECT resolved_at, resolved_at IS NULL FROM tickets WHERE resolved_at IS NULL LIMIT 1"
    ).fetchone()
    assert resolved == (None, True), resolved
    avg = conn.execute("SELECT CAST(avg(csat_score) AS DECIMAL(10, 2)) FROM tickets").fetchone()[0]
    assert isinstance(avg, decimal.Decimal), type(avg)

    # Errors keep their SQLSTATE and leave the connection usable.
    try:
        conn.execute("DELETE FROM tickets")
        raise AssertionError("a write went through")
    except psycopg.errors.ReadOnlySqlTransaction:
        pass
    assert conn.execute("SELECT 1").fetchone() == (1,)

with psycopg.connect(**dsn, user="dash", password="dash-password", autocommit=True) as conn:
    try:
        conn.execute("SELECT * FROM tickets")
        raise AssertionError("a viewer read tickets")
    except psycopg.errors.InsufficientPrivilege as e:
        assert "tickets" in str(e), e

# SQLAlchemy's inspector, as Superset uses it to list tables and columns.
for user, password, expect_tickets in [("ana", "ana-password", True), ("dash", "dash-password", False)]:
    engine = sa.create_engine(f"postgresql+psycopg://{user}:{password}@127.0.0.1:{port}/kpi")
    inspector = sa.inspect(engine)
    tables = inspector.get_table_names()
    assert "kpi_catalog" in tables, tables
    assert ("tickets" in tables) == expect_tickets, (user, tables)
    if expect_tickets:
        columns = {c["name"]: c for c in inspector.get_columns("tickets")}
        assert "created_at" in columns and "ticket_id" in columns, columns
        assert columns["ticket_id"]["nullable"] is False, columns["ticket_id"]
        assert "ticket_sla" in inspector.get_view_names()
    columns = [c["name"] for c in inspector.get_columns("kpi_catalog")]
    assert "name" in columns, columns
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM kpi_catalog")).scalar() > 0
    engine.dispose()

print("ok")
