"""Stopping a long-running command cleanly on SIGINT (Ctrl+C) or SIGTERM, and leaving the
process with its exit code."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import NoReturn


def stop_on_signals(note: Callable[[], None] | None = None) -> threading.Event:
    """An event set by the first SIGINT or SIGTERM (which then calls ``note``).

    The work in hand finishes and the command exits 0; a second signal
    interrupts at once, as Python's default handler does.
    """
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # asked twice: stop now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()
        if note is not None:
            note()

    for sig in previous:
        signal.signal(sig, handle)
    return stop


def wait_until(stop: threading.Event, seconds: float | None = None) -> bool:
    """Wait for ``stop`` (at most ``seconds``), in short steps so that signal handlers run;
    return whether it was set."""
    waited = 0.0
    while not stop.wait(0.5 if seconds is None else min(0.5, max(0.0, seconds - waited))):
        waited += 0.5
        if seconds is not None and waited >= seconds:
            return stop.is_set()
    return True


def exit_with(code: int) -> NoReturn:
    """End the process with ``code`` once its exit handlers ran and its output is flushed.

    Arrow's native reader threads can abort the interpreter's own teardown after
    the work is done ("terminate called without an active exception", exit -6:
    apache/arrow#34314), turning a finished command into a crash; the exit
    handlers (clusters, HiGHS processes, logging) run here and the teardown is
    skipped.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
