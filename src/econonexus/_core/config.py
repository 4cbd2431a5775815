"""Defaults in ``econonexus.yaml`` merged into ``dask.config``.

Importing this module registers the defaults; workers import it when they
unpickle any EconoNexus task, so they see the same values.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

import dask.config
import yaml

T = TypeVar("T")
_DEFAULTS_FILE = pathlib.Path(__file__).parents[1] / "econonexus.yaml"


def _load_defaults() -> dict[str, Any]:
    with _DEFAULTS_FILE.open() as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


# update_defaults keeps what is already set (YAML files, DASK_ECONONEXUS__* variables,
# dask.config.set before this import); refresh() would throw the last away.
dask.config.update_defaults(_load_defaults())


def get_setting(key: str) -> Any:
    """Return the EconoNexus setting ``key`` (dotted, without the ``econonexus.`` prefix)."""
    return dask.config.get(f"econonexus.{key}")


def setting_default(key: str, cast: Callable[[Any], T]) -> Callable[[], T]:
    """A ``default_factory`` reading setting ``key``: dataclass defaults live in the YAML only."""

    def read() -> T:
        value = get_setting(key)
        return value if value is None else cast(value)  # type: ignore[return-value]

    return read
