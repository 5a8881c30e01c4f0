"""Group commit: calls that wait at the same moment share one transaction.

A hot write path whose cost is mostly per transaction (round trips, the commit's WAL flush, the
after-commit message) gets cheaper per call when several calls share one. ``GroupCommit`` does
that for the calls of one process, leader/follower style:

- A call that finds no group being stored leads at once: an idle server adds no wait to anyone.
- A call that arrives while a group is being stored waits. When that group is done, the call
  that has waited longest leads the next one, taking every waiting call that may join it
  (``joins``), up to a limit. So groups grow exactly when the server is busy, and a burst drains
  in a few transactions instead of one per call.
- A group of one runs ``alone``, so a lone call does exactly what it would do without grouping.
- If a group fails, each of its calls runs ``alone`` again in its own thread: one bad call
  fails only its own request.

The callers (events.coalescing, decisions.coalescing) decide what may share a transaction and
how a group is stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

C = TypeVar("C")  # a call
R = TypeVar("R")  # its result


@dataclass
class GroupCommitStats:
    calls: int = 0
    groups: int = 0
    largest: int = 0
    fallbacks: int = 0  # groups that failed and were run call by call


@dataclass(eq=False)
class _Waiting(Generic[C, R]):
    call: C
    result: R | None = None
    alone: bool = False  # the group failed: run this call on its own
    done: bool = False


@dataclass(eq=False)
class GroupCommit(Generic[C, R]):
    """``together(calls)`` stores two or more calls in one transaction and returns their results
    in order; ``alone(call)`` stores one; ``joins(call, group)`` says whether a waiting call may
    join a group (the leader's call first)."""

    name: str
    together: Callable[[Sequence[C]], Sequence[R]]
    alone: Callable[[C], R]
    joins: Callable[[C, Sequence[C]], bool]
    stats: GroupCommitStats = field(default_factory=GroupCommitStats)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _waiting: list[_Waiting[C, R]] = field(default_factory=list)
    _storing: bool = False

    def waiting_count(self) -> int:
        """Calls queued for a group (not counting the group being stored)."""
        with self._changed:
            return len(self._waiting)

    def run(self, call: C, *, limit: int) -> R:
        entry: _Waiting[C, R] = _Waiting(call)
        with self._changed:
            self._waiting.append(entry)
            # The call waiting longest leads the next group (first come, first stored).
            while not entry.done and (self._storing or self._waiting[0] is not entry):
                self._changed.wait()
            if entry.done:
                return self._finish(entry)
            group = self._take(entry, limit)
            self._storing = True
        try:
            self._store(group)
        finally:
            with self._changed:
                for member in group:
                    member.done = True
                    # A store interrupted by a BaseException left no result: each call runs alone.
                    member.alone = member.alone or member.result is None
                self._storing = False
                self._changed.notify_all()
        return self._finish(entry)

    def _take(self, leader: _Waiting[C, R], limit: int) -> list[_Waiting[C, R]]:
        group = [leader]
        calls = [leader.call]
        for entry in self._waiting:
            if len(group) >= limit:
                break
            if entry is not leader and self.joins(entry.call, calls):
                group.append(entry)
                calls.append(entry.call)
        taken = set(map(id, group))
        self._waiting = [entry for entry in self._waiting if id(entry) not in taken]
        self.stats.calls += len(group)
        self.stats.groups += 1
        self.stats.largest = max(self.stats.largest, len(group))
        return group

    def _store(self, group: Sequence[_Waiting[C, R]]) -> None:
        if len(group) == 1:  # the usual case when the server is not busy
            group[0].result = self.alone(group[0].call)  # an error is the leader's own, raised to it
            return
        try:
            results = self.together([entry.call for entry in group])
        except Exception:
            logger.exception("%s: a group of %s calls failed; running each on its own", self.name, len(group))
            self.stats.fallbacks += 1
            for entry in group:
                entry.alone = True
            return
        for entry, result in zip(group, results, strict=True):
            entry.result = result

    def _finish(self, entry: _Waiting[C, R]) -> R:
        if entry.alone:  # after the failed group, in the caller's own thread
            return self.alone(entry.call)
        assert entry.result is not None
        return entry.result
