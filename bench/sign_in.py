"""What the sign-in check costs a page load, on SQLite and on PostgreSQL.

Every run of the app checks the session cookie against the admin database (ui/auth.py →
Access.staff), and the server's gate does the same once more for a page the browser
navigates to (admin/web.py → SignInGate). This times both on a real admin database with
one signed-in account among 50, and prints the median and the 95th percentile:

    python bench/sign_in.py [--runs 500] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

The target (issue 11) is at most 50 ms added to a page load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from admin.db import AdminDB  # noqa: E402
from admin.web import SESSION_COOKIE, Access, SignInGate, sign  # noqa: E402
from pulse.settings import Settings  # noqa: E402

PASSWORD = "correct horse battery"


def _timed(call, runs: int) -> tuple[float, float]:
    call()  # warm
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def measure(url: str, runs: int) -> list[tuple[str, float, float]]:
    settings = Settings(sign_in="accounts", admin_db=url, secret_key="bench-key")
    access = Access(settings, AdminDB(url))
    for n in range(50):
        access.accounts.add(f"staff{n}@example.com", "analyst", PASSWORD, by="bench")
    cookie = sign(access.accounts.sign_in("staff7@example.com", PASSWORD), access.key)
    assert access.staff(cookie) is not None

    async def downstream(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    gate = SignInGate(downstream, access)
    scope = {"type": "http", "method": "GET", "path": "/activity", "query_string": b"", "client": ("10.0.0.7", 5000),
             "headers": [(b"accept", b"text/html"), (b"cookie", f"{SESSION_COOKIE}={cookie}".encode())]}
    statuses = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    loop = asyncio.new_event_loop()
    results = [("app run: Access.staff(cookie)", *_timed(lambda: access.staff(cookie), runs)),
               ("server gate: a page request", *_timed(lambda: loop.run_until_complete(gate(scope, receive, send)), runs))]
    loop.close()
    assert set(statuses) == {200}, statuses
    access.accounts.db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL database to use a fresh schema of; '' to skip")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows += [("SQLite", *row) for row in measure(f"sqlite:///{folder}/admin.db", args.runs)]
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        server = create_engine(args.postgres)
        with server.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            rows += [("PostgreSQL", *row) for row in measure(f"{args.postgres}?options=-csearch_path%3D{schema}", args.runs)]
        finally:
            with server.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            server.dispose()
    print(f"{'database':<12} {'check':<34} {'median ms':>10} {'p95 ms':>8}")
    for database, check, median, p95 in rows:
        print(f"{database:<12} {check:<34} {median:>10.2f} {p95:>8.2f}")
    worst = max(sum(r[2] for r in rows if r[0] == db) for db in {r[0] for r in rows})
    print(f"Both checks together, worst database: {worst:.2f} ms per page load (target: at most 50 ms).")


if __name__ == "__main__":
    main()
