"""Who holds a claimed row: the outbox and the schedule runs are claimed by a worker (a
process, or a thread of the web server), and a row whose worker is gone is taken back."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

LIVE_WORKERS: set[str] = set()  # workers running in this process (the web server works in threads)
_HOST = socket.gethostname()


def worker_id() -> str:
    """host:pid:random — a claim names its worker, so a dead one can be recognised."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def abandoned(claimed_by: str, claimed_at: datetime | None, now: datetime, lease: timedelta) -> bool:
    """Whether a claim belongs to a worker that is gone: a process on this machine that has
    ended, a thread of this process no longer running, or any worker whose claim is older
    than the lease."""
    if claimed_at is None:
        return True
    if (claimed_at if claimed_at.tzinfo else claimed_at.replace(tzinfo=timezone.utc)) + lease < now:
        return True
    host, _, rest = claimed_by.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return claimed_by not in LIVE_WORKERS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
