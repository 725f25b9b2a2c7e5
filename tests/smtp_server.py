"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the email tests.

`python tests/smtp_server.py PORT FILE` runs one in its own process, appending each
message it accepts to FILE as one JSON line (for tests that kill the sender)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd handler: accepts everything but the addresses in `refuse` (550 at RCPT)."""

    def __init__(self, refuse=(), path=None):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = set(refuse)
        self.path = path
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.path:  # a server process of its own: log the envelope only, as fast as a relay would take it
            with open(self.path, "a") as out:
                out.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos}) + "\n")
            return "250 Message accepted for delivery"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(inbox: Inbox, port: int | None = None) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return controller


@contextmanager
def serving() -> Iterator[Inbox]:
    """An inbox behind a server on a free loopback port (its `port`), stopped afterwards."""
    box = Inbox()
    controller = start(box)
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


if __name__ == "__main__":
    controller = start(Inbox(path=sys.argv[2]), int(sys.argv[1]))
    while True:
        time.sleep(3600)
