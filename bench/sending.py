"""How long a campaign takes to send, to a real SMTP server on loopback (aiosmtpd).

    python bench/sending.py [--messages 1000] [--admin-db URL]

Writes a campaign of N recipients to a fresh admin database (SQLite by default), sends it
with the rate limit off, and prints the time, the rate, and what the server received.
The target (issue 12): 1,000 messages in under 30 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from smtp_server import free_port  # noqa: E402

from admin.db import AdminDB  # noqa: E402
from admin.email import Campaigns, Sender, Template, plan  # noqa: E402
from pulse.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--admin-db", help="an admin database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = AdminDB(args.admin_db or f"sqlite:///{folder}/admin.db")
        people = [{"user_id": f"u{n:05d}", "email": f"user{n:05d}@example.com", "name": f"Jörg {n}",
                   "plan": "pro", "marketing_opt_in": True} for n in range(args.messages)]
        template = Template("bench", "Hallo {{ name }}", "Hi {{ name }}, your plan is {{ plan }}.\n",
                            "<p>Hi <b>{{ name }}</b></p>")
        began = time.perf_counter()
        planned = plan(template, people, "marketing", set(), unsubscribe=lambda e: f"https://pulse.example/u?{e}")
        Campaigns(db).create("bench", template, planned, "marketing", "", "bench", "team@pulse.example", by="bench")
        queued = time.perf_counter() - began
        # The server in a process of its own, as a mail relay would be.
        port, received = free_port(), Path(folder) / "received.jsonl"
        server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "smtp_server.py"), str(port), str(received)])
        time.sleep(1.5)
        settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_sender="team@pulse.example")
        began = time.perf_counter()
        counts = Sender(db, settings, b"bench").send("bench")
        took = time.perf_counter() - began
        server.terminate()
        server.wait()
        db.engine.dispose()
        got = len(received.read_text().splitlines()) if received.exists() else 0
    print(f"admin database: {args.admin_db or 'SQLite'}")
    print(f"rendered and queued {args.messages:,} recipients in {queued:.2f} s")
    print(f"sent {counts['sent']:,} (failed {counts['failed']}) in {took:.2f} s = {counts['sent'] / took:,.0f} messages/s; "
          f"the server received {got:,}")
    print(f"target: {args.messages:,} messages in under 30 s — {'met' if took < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
