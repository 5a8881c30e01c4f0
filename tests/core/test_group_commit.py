"""core.group_commit without a database: what the followers of a group get when its store is
interrupted by something that is not an Exception."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from core.group_commit import GroupCommit
from tests.waiting import wait_until


class Stop(BaseException):
    """Not an Exception: what a shutdown (SystemExit) looks like inside a store."""


def _waiting(group: GroupCommit[str, str], count: int) -> Callable[[], bool]:
    return lambda: group.waiting_count() == count


def test_followers_of_a_group_interrupted_by_a_base_exception_run_alone() -> None:
    entered, release = threading.Event(), threading.Event()
    stores: list[list[str]] = []

    def alone(call: str) -> str:
        stores.append([call])
        if call == "leader":
            entered.set()
            assert release.wait(timeout=30)
        return f"{call} alone"

    def together(calls: Sequence[str]) -> list[str]:
        stores.append(list(calls))
        raise Stop

    group: GroupCommit[str, str] = GroupCommit(
        name="test", together=together, alone=alone, joins=lambda call, calls: True
    )
    results: dict[str, object] = {}

    def run(call: str) -> None:
        try:
            results[call] = group.run(call, limit=10)
        except BaseException as exc:  # reported below
            results[call] = exc

    threads = [threading.Thread(target=run, args=("leader",))]
    threads[0].start()
    assert entered.wait(timeout=30)
    for n, call in enumerate(("a", "b", "c"), start=1):
        threads.append(threading.Thread(target=run, args=(call,)))
        threads[-1].start()
        wait_until(_waiting(group, n))
    release.set()
    for thread in threads:
        thread.join(timeout=30)

    assert stores[:2] == [["leader"], ["a", "b", "c"]]
    assert sorted(stores[2:]) == [["b"], ["c"]]  # the group's leader ("a") got the interruption
    assert isinstance(results["a"], Stop)
    assert results["leader"] == "leader alone"
    assert results["b"] == "b alone" and results["c"] == "c alone"
