"""The watcher: notices files dropped into watched roots and admits complete ones.

Modules, one concept each:

- :mod:`~pipeline.watcher.watcher` — :class:`Watcher`, the facade and its threads
- :mod:`~pipeline.watcher.model` — :class:`SeenFile`, :class:`WatcherStats`, callback types
- :mod:`~pipeline.watcher.events` — watchdog events subscribed, and routed to work queues
- :mod:`~pipeline.watcher.inotify` — an inotify observer that reports queue overflows
- :mod:`~pipeline.watcher.observe` — the observer and one watch per root
- :mod:`~pipeline.watcher.dispatch` — the thread that admits, refuses and settles
- :mod:`~pipeline.watcher.settle` — when a file without a close event is complete
- :mod:`~pipeline.watcher.scan` / :mod:`~pipeline.watcher.walk` — startup scan and rescans
- :mod:`~pipeline.watcher.examine` — what one path is: offer, refuse, or nothing
- :mod:`~pipeline.watcher.outcomes` — the deduplicated way out to ``admit``/``refuse``
"""

from pipeline.watcher.model import REASONS, Admit, Reason, Refuse, SeenFile, WatcherStats
from pipeline.watcher.watcher import Watcher

__all__ = ["REASONS", "Admit", "Reason", "Refuse", "SeenFile", "Watcher", "WatcherStats"]
