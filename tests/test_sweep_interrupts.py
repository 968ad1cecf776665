"""Tests for labkit.sweep.interrupts: SIGTERM and SIGHUP stop a sweep the way Ctrl-C does."""

import os
import signal
import threading

import pytest

from labkit.sweep import interrupt_on_signals


@pytest.fixture
def restore_handlers():
    saved = {number: signal.getsignal(number) for number in (signal.SIGHUP, signal.SIGTERM)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_raises_keyboard_interrupt_once(number, restore_handlers):
    before = signal.getsignal(number)
    with pytest.raises(KeyboardInterrupt), interrupt_on_signals():
        try:
            os.kill(os.getpid(), number)
        except KeyboardInterrupt:
            os.kill(os.getpid(), number)  # a second signal while stopping: ignored
            raise

    assert signal.getsignal(number) is before  # restored on the way out


def test_an_ignored_signal_stays_ignored(restore_handlers):
    # `nohup labkit sweep ...`: SIGHUP is ignored and the sweep must go on.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    with interrupt_on_signals():
        os.kill(os.getpid(), signal.SIGHUP)

    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_outside_the_main_thread_it_changes_nothing(restore_handlers):
    seen = []

    def enter():
        with interrupt_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()

    assert seen == [before]
