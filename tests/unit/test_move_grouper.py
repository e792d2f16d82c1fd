"""``IndexedMoveEventGrouper`` pairs renames exactly as watchdog's grouper does.

Both groupers are fed the same random sequence of inotify events — renames
whose halves meet, renames into the tree (no ``IN_MOVED_FROM``) and out of it
(no ``IN_MOVED_TO``), creations and closes, interleaved with the emitter's
reads — and must give the same events and pairs in the same order, and the
same answer to every ``get_queued_moved_from_event`` asked along the way.
The lone ``IN_MOVED_FROM``'s half-second wait is set to zero in both, so a
read never sleeps: the order of puts and reads alone decides the pairs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent
from watchdog.observers.inotify_move_event_grouper import (
    GroupedInotifyEvent,
    InotifyMoveEventGrouper,
    PathedInotifyEvent,
)

from pipeline.watcher.inotify import IndexedMoveEventGrouper

COOKIES = st.integers(min_value=1, max_value=6)  # few: halves meet, and miss
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("from"), COOKIES),
        st.tuples(st.just("to"), COOKIES),
        st.tuples(st.just("create"), st.just(0)),
        st.tuples(st.just("close"), st.just(0)),
        st.tuples(st.just("read"), st.just(0)),
        st.tuples(st.just("ask"), COOKIES),
    ),
    max_size=60,
)
MASKS = {
    "from": InotifyConstants.IN_MOVED_FROM,
    "to": InotifyConstants.IN_MOVED_TO,
    "create": InotifyConstants.IN_CREATE,
    "close": InotifyConstants.IN_CLOSE_WRITE,
}


def _undelayed(grouper: InotifyMoveEventGrouper) -> InotifyMoveEventGrouper:
    grouper._queue.delay = 0  # a lone IN_MOVED_FROM is readable at once
    return grouper


def _plain(item: GroupedInotifyEvent | None) -> Any:
    """An event or a pair as comparable values (the two groupers make their own objects)."""
    if item is None:
        return None
    if isinstance(item, PathedInotifyEvent):
        return (item.ev.mask, item.ev.cookie, item.path)
    return tuple(_plain(half) for half in item)


def _waiting(grouper: InotifyMoveEventGrouper) -> int:
    return len(grouper._queue._queue)


def _run(grouper: InotifyMoveEventGrouper, steps: list[tuple[str, int]]) -> list[Any]:
    seen: list[Any] = []
    halves: set[tuple[str, int]] = set()
    for number, (kind, cookie) in enumerate(steps):
        if kind in ("from", "to"):
            if (kind, cookie) in halves:
                continue  # the kernel gives each rename a cookie of its own
            halves.add((kind, cookie))
        if kind == "read":
            if _waiting(grouper):  # an empty queue would block, as in watchdog
                seen.append(("read", _plain(grouper.read_event())))
        elif kind == "ask":
            seen.append(("ask", cookie, _plain(grouper.get_queued_moved_from_event(cookie))))
        else:
            name = f"f{number}".encode()
            event = InotifyEvent(1, MASKS[kind], cookie, name)
            grouper.put_event(PathedInotifyEvent(event, b"/root/" + name))
    while _waiting(grouper):
        seen.append(("read", _plain(grouper.read_event())))
    return seen


@settings(max_examples=400, deadline=None)
@given(STEPS)
def test_same_events_pairs_and_answers_as_watchdog(steps: list[tuple[str, int]]) -> None:
    ours = _run(_undelayed(IndexedMoveEventGrouper()), steps)
    theirs = _run(_undelayed(InotifyMoveEventGrouper()), steps)
    assert ours == theirs


def test_a_rename_into_the_tree_looks_up_no_queue() -> None:
    """The reason for the class: an IN_MOVED_TO with no waiting source costs a
    dict look-up, however many events wait — watchdog scans them all, twice."""
    grouper = IndexedMoveEventGrouper()
    for number in range(5_000):  # a backlog behind a busy emitter
        event = InotifyEvent(1, InotifyConstants.IN_CLOSE_WRITE, 0, b"x")
        grouper.put_event(PathedInotifyEvent(event, b"/root/backlog%d" % number))
    scans = 0
    original = grouper._queue._index_and_item

    def counted(predicate: Any) -> Any:
        nonlocal scans
        scans += 1
        return original(predicate)

    grouper._queue._index_and_item = counted  # type: ignore[method-assign]
    for cookie in range(1, 101):
        assert grouper.get_queued_moved_from_event(cookie) is None
        event = InotifyEvent(1, InotifyConstants.IN_MOVED_TO, cookie, b"y")
        grouper.put_event(PathedInotifyEvent(event, b"/root/renamed%d" % cookie))
    assert scans == 0
    # A real pair still takes its first half out of the queue, once.
    source = InotifyEvent(1, InotifyConstants.IN_MOVED_FROM, 999, b"a")
    grouper.put_event(PathedInotifyEvent(source, b"/root/a"))
    assert grouper.get_queued_moved_from_event(999) is not None
    grouper.put_event(
        PathedInotifyEvent(InotifyEvent(1, InotifyConstants.IN_MOVED_TO, 999, b"b"), b"/root/b")
    )
    assert scans == 1
    assert grouper.get_queued_moved_from_event(999) is None
    last = grouper._queue._queue[-1][0]
    assert _plain(last) == (
        (InotifyConstants.IN_MOVED_FROM, 999, b"/root/a"),
        (InotifyConstants.IN_MOVED_TO, 999, b"/root/b"),
    )
