"""Hang-ups and termination stop a batch the way Ctrl-C does.

Inside `interrupt_on_signals()`, SIGINT, SIGTERM and SIGHUP raise `KeyboardInterrupt` in the main
thread, so closing the terminal (SIGHUP) or `kill` (SIGTERM) stops the running notebooks, records
them as interrupted and writes the summary. The first signal starts that cleanup; later ones are
ignored until it ends (it takes a few seconds at most). A signal the process ignores (SIGHUP under
`nohup`) stays ignored.

Example:

>>> with interrupt_on_signals():
...     run_everything()  # `kill -HUP` lands here as KeyboardInterrupt
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["STOP_SIGNALS", "interrupt_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def interrupt_on_signals(signals: Sequence[signal.Signals] = STOP_SIGNALS) -> Iterator[None]:
    """Raises `KeyboardInterrupt` on the first of `signals` while the block runs.

    Does nothing outside the main thread, where Python cannot handle signals.

    Example:

    >>> with interrupt_on_signals():
    ...     os.kill(os.getpid(), signal.SIGHUP)
    Traceback (most recent call last):
    KeyboardInterrupt
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def interrupt(signum: int, frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    previous = {}
    for number in signals:
        handler = signal.getsignal(number)
        if handler is not signal.SIG_IGN:
            previous[number] = signal.SIG_DFL if handler is None else handler
            signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
