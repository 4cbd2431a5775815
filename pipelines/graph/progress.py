"""Progress bars for long runs: Dask's widget in a notebook, a text bar in a terminal."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from distributed import Client, Future
from distributed.diagnostics.progressbar import MultiProgressWidget, TextProgressBar
from distributed.utils import is_kernel

from econonexus._core.config import get_setting
from econonexus._core.errors import InputError

MODES = ("auto", "always", "never")


def show_progress(progress: bool | None) -> bool:
    """Whether to show a bar: ``progress`` if given, else setting ``econonexus.progress``.

    ``auto`` shows one in a notebook (an IPython kernel) only; ``always`` and
    ``never`` do what they say.
    """
    if progress is not None:
        return progress
    mode = str(get_setting("progress"))
    if mode not in MODES:
        raise InputError(f"setting `econonexus.progress`: expected one of {MODES}, got {mode!r}")
    return mode == "always" or (mode == "auto" and bool(is_kernel()))


def track(client: Client, futures: Sequence[Future[Any]]) -> None:
    """Show progress of ``futures`` and everything they depend on.

    In a notebook Dask's per-stage widget is displayed and this returns at
    once; elsewhere a text bar is drawn on stdout until the futures finish.
    """
    scheduler = str(client.scheduler_info(n_workers=0)["address"])
    if is_kernel() and _display_widget(list(futures), scheduler):
        return
    TextProgressBar(list(futures), scheduler=scheduler)


def _display_widget(futures: list[Future[Any]], scheduler: str) -> bool:
    try:
        display = importlib.import_module("IPython.display").display
        display(MultiProgressWidget(futures, scheduler=scheduler, group_by="prefix"))
    except ImportError:  # no ipywidgets: fall back on the text bar
        return False
    return True
