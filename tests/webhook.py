"""A real local HTTP receiver for alert webhooks; it answers from a script of steps."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Each request takes the next step of ``script``: ``ok`` (200), ``fail`` (500) or ``hang``
    (no answer for 2 s); when the script runs out, it answers ``ok``. ``bodies`` keeps every
    JSON body that got an answer, ``attempts`` counts every request."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        box = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                box.attempts += 1
                step = box.script.pop(0) if box.script else "ok"
                if step == "hang":
                    time.sleep(2)
                    return
                box.bodies.append(json.loads(body))
                self.send_response(200 if step == "ok" else 500)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@contextmanager
def receiver(script: list[str]) -> Iterator[Receiver]:
    box = Receiver(script)
    thread = threading.Thread(target=box.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        box.server.shutdown()
        box.server.server_close()
