"""How many experiments may run at once, per workspace and per person; the rest wait their turn.

An experiment asks for a slot before it loads anything. While a cap is reached it waits, first
come first served among those the caps allow, and is told why once; a cancel while waiting ends
the wait with :class:`~tools.errors.Cancelled`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.errors import Cancelled

WAKE_SECONDS = 1.0
"""Waiting experiments look at their cancel flag at least this often (a cancel also wakes them)."""


@dataclass(eq=False)
class _Ticket:
    team: str
    user: str
    cancel: threading.Event = field(default_factory=threading.Event)


class Slot:
    """A running experiment's place under the caps; release it once the experiment ends."""

    def __init__(self, limits: Limits, ticket: _Ticket):
        self._limits = limits
        self._ticket: _Ticket | None = ticket

    def release(self) -> None:
        """Give the place back (a second call does nothing)."""
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            self._limits._release(ticket)


class Limits:
    """The caps on experiments running at once.

    Args:
        per_workspace: At most this many in one workspace.
        per_user: At most this many for one person.

    Example:
        >>> limits = Limits(per_workspace=1, per_user=1)
        >>> slot = limits.acquire("T1", "U1", cancel=threading.Event(), queued=print)
        >>> limits.running("T1")
        1
        >>> slot.release()
    """

    def __init__(self, *, per_workspace: int, per_user: int):
        self.per_workspace = per_workspace
        self.per_user = per_user
        self._cond = threading.Condition()
        self._running: Counter[tuple[str, ...]] = Counter()
        self._waiting: list[_Ticket] = []

    def running(self, team: str, user: str | None = None) -> int:
        """Return how many experiments run now in ``team`` (of ``user``, when given)."""
        with self._cond:
            return self._running[(team,) if user is None else (team, user)]

    def acquire(
        self,
        team: str,
        user: str,
        *,
        cancel: threading.Event,
        queued: Callable[[str], None],
    ) -> Slot:
        """Wait for a place, calling ``queued(why)`` once when it has to wait.

        Raises:
            Cancelled: ``cancel`` was set while it waited.
        """
        ticket = _Ticket(team, user, cancel)
        with self._cond:
            self._waiting.append(ticket)
            why = self._blocked(ticket)
        if why:
            queued(why)  # outside the lock: it posts to Slack
        with self._cond:
            try:
                while self._blocked(ticket):
                    if cancel.is_set():
                        raise Cancelled("cancelled while it waited for a free slot")
                    self._cond.wait(WAKE_SECONDS)
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()
            self._running[(team,)] += 1
            self._running[(team, user)] += 1
        return Slot(self, ticket)

    def wake(self) -> None:
        """Let waiting experiments look at their cancel flags now."""
        with self._cond:
            self._cond.notify_all()

    def _release(self, ticket: _Ticket) -> None:
        with self._cond:
            self._running[(ticket.team,)] -= 1
            self._running[(ticket.team, ticket.user)] -= 1
            self._cond.notify_all()

    def _over(self, ticket: _Ticket) -> str:
        team = self._running[(ticket.team,)]
        if team >= self.per_workspace:
            return (
                f"{team} experiment(s) are running in this workspace "
                f"(at most {self.per_workspace} at once)"
            )
        mine = self._running[(ticket.team, ticket.user)]
        if mine >= self.per_user:
            return (
                f"<@{ticket.user}> has {mine} experiment(s) running "
                f"(at most {self.per_user} at once per person)"
            )
        return ""

    def _blocked(self, ticket: _Ticket) -> str:
        over = self._over(ticket)
        if over:
            return over
        for earlier in self._waiting[: self._waiting.index(ticket)]:
            if earlier.team == ticket.team and not self._over(earlier):
                return "an earlier request is about to start"
        return ""
