"""The EconoNexus error hierarchy, rooted at :class:`EconoNexusError`.

This module imports nothing from the package so every layer may raise these.
"""

from __future__ import annotations


class EconoNexusError(Exception):
    """Base class of every error EconoNexus raises on purpose.

    Examples
    --------
    >>> try:
    ...     raise InputError("`price`: expected a number > 0, got -1")
    ... except EconoNexusError as exc:
    ...     print(exc)
    `price`: expected a number > 0, got -1
    """


class InputError(EconoNexusError, ValueError):
    """An input table, file or parameter is not what the contract expects.

    Examples
    --------
    >>> raise InputError("`solver`: expected 'cbc' or 'highs', got 'gurobi'")
    Traceback (most recent call last):
    ...
    econonexus._errors.InputError: `solver`: expected 'cbc' or 'highs', got 'gurobi'
    """


class SourceReadError(InputError):
    """A bid or item source cannot be read at all (missing, unreadable, wrong format).

    Examples
    --------
    >>> raise SourceReadError("cannot read 'bids.csv': file not found")
    Traceback (most recent call last):
    ...
    econonexus._errors.SourceReadError: cannot read 'bids.csv': file not found
    """


class CatsFormatError(SourceReadError):
    """A CATS file's header is malformed; the message names the file and line.

    Examples
    --------
    >>> raise CatsFormatError("inst.txt line 3: expected 'goods N', got 'goods x'")
    Traceback (most recent call last):
    ...
    econonexus._errors.CatsFormatError: inst.txt line 3: expected 'goods N', got 'goods x'
    """


class SolverError(EconoNexusError):
    """A solver backend failed or is not installed.

    Examples
    --------
    >>> raise SolverError("backend 'highs': highspy is not installed")
    Traceback (most recent call last):
    ...
    econonexus._errors.SolverError: backend 'highs': highspy is not installed
    """


class RunConflictError(EconoNexusError):
    """A `run_id` already stored under `out` was asked for with different inputs.

    Examples
    --------
    >>> raise RunConflictError("run 'r1' exists with other inputs")
    Traceback (most recent call last):
    ...
    econonexus._errors.RunConflictError: run 'r1' exists with other inputs
    """


class RunFailedError(EconoNexusError):
    """A batch could not complete; nothing was published as complete.

    Examples
    --------
    >>> raise RunFailedError("run 'r1' failed: worker lost three times")
    Traceback (most recent call last):
    ...
    econonexus._errors.RunFailedError: run 'r1' failed: worker lost three times
    """
