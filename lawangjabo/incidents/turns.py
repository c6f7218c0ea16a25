"""One incident import at a time in a process; the others wait their turn in arrival order.

A 1,000,000-row file is read and written a chunk at a time, so one import needs a bounded
amount of memory; taking turns keeps two of them (or an upload and the CLI's inbox job) from
doubling it on a small city server. A waiting import is told how many are ahead of it; one that
is left (its page closed, an exception) gives up its place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ImportTurns:
    """A first-come, first-served queue of imports, one running at a time."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: list[object] = []

    def ahead(self) -> int:
        """How many imports are running or waiting now."""
        with self._changed:
            return len(self._queue)

    @contextmanager
    def turn(
        self, waiting: Callable[[int], None] | None = None, poll_s: float = 0.5
    ) -> Iterator[None]:
        """Wait for this import's turn, then hold it. ``waiting`` is told, about every
        ``poll_s``, how many imports are ahead (1: the running one only); whatever it raises
        leaves the queue."""
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
        try:
            while True:
                with self._changed:
                    if self._queue[0] is not ticket:
                        self._changed.wait(poll_s)
                    ahead = self._queue.index(ticket)
                if ahead == 0:
                    break
                if waiting is not None:
                    waiting(ahead)
            yield
        finally:
            with self._changed:
                self._queue.remove(ticket)
                self._changed.notify_all()
