"""Tests for labkit.sweep.interrupts: SIGTERM and SIGHUP stop a sweep the way Ctrl-C does; and
the signal tests pass however pytest was started (`nohup`, `&` in a script)."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labkit.sweep.interrupts import interrupt_on_signals

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_handlers():
    """The stop signals as a terminal's command starts with them, restored afterwards: under
    `nohup` or `&` in a script, pytest itself starts with SIGINT and SIGHUP ignored."""
    numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {number: signal.getsignal(number) for number in numbers}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
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


def ignoring_stop_signals():
    """A `preexec_fn`: what `nohup ... &` in a script gives a process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


IGNORED = "import re; print(re.search(r'SigIgn:\\s*(\\w+)', open('/proc/self/status').read())[1])"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_child_started_as_from_a_terminal_gets_the_stop_signals_back():
    # The middle process ignores both signals, as pytest does under nohup; its child must not.
    code = (
        "import subprocess, sys\n"
        f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
        "from process_helpers import as_from_a_terminal\n"
        f"subprocess.run([sys.executable, '-c', {IGNORED!r}], preexec_fn=as_from_a_terminal)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=ignoring_stop_signals,
        capture_output=True,
        text=True,
    )

    ignored = int(result.stdout.strip(), 16)
    assert not ignored & (1 << (signal.SIGINT - 1)), result.stderr
    assert not ignored & (1 << (signal.SIGHUP - 1))


def test_the_in_process_signal_tests_pass_under_nohup():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"]
        + ["-k", "raises_keyboard_interrupt or stays_ignored"],
        cwd=REPO,
        preexec_fn=ignoring_stop_signals,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-3000:]
    assert "4 passed" in result.stdout
