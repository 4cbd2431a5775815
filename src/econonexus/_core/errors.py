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
    econonexus._core.errors.InputError: `solver`: expected 'cbc' or 'highs', got 'gurobi'
    """


class SourceReadError(InputError):
    """A bid or item source cannot be read at all (missing, unreadable, wrong format).

    Examples
    --------
    >>> raise SourceReadError("cannot read 'bids.csv': file not found")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.SourceReadError: cannot read 'bids.csv': file not found
    """


class CatsFormatError(SourceReadError):
    """A CATS file's header is malformed; the message names the file and line.

    Examples
    --------
    >>> raise CatsFormatError("inst.txt line 3: expected 'goods N', got 'goods x'")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.CatsFormatError: inst.txt line 3: expected 'goods N', got 'goods x'
    """


class SolverError(EconoNexusError):
    """A solver backend failed or is not installed.

    Examples
    --------
    >>> raise SolverError("backend 'highs': highspy is not installed")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.SolverError: backend 'highs': highspy is not installed
    """


class RunConflictError(EconoNexusError):
    """A `run_id` already stored under `out` was asked for with different inputs.

    Examples
    --------
    >>> raise RunConflictError("run 'r1' exists with other inputs")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.RunConflictError: run 'r1' exists with other inputs
    """


class RunFailedError(EconoNexusError):
    """A batch could not complete; nothing was published as complete.

    Examples
    --------
    >>> raise RunFailedError("run 'r1' failed: worker lost three times")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.RunFailedError: run 'r1' failed: worker lost three times
    """


class AgentStateError(EconoNexusError):
    """An event cannot be applied to an agent's state (the message names both).

    Examples
    --------
    >>> raise AgentStateError("agent 'a1' event 7: amount 5 > free stake 2")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.AgentStateError: agent 'a1' event 7: amount 5 > free stake 2
    """


class SnapshotError(EconoNexusError):
    """A snapshot pointer or file is unreadable (the message names the file).

    Examples
    --------
    >>> raise SnapshotError("shard-00001/CURRENT.json: expected JSON, got b'{'")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.SnapshotError: shard-00001/CURRENT.json: expected JSON, got b'{'
    """


class ShardUnavailableError(EconoNexusError):
    """A shard did not answer: lost with its worker, timed out, or its circuit is open.

    Examples
    --------
    >>> raise ShardUnavailableError("shard 3: circuit open; retry in 4.2 s")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.ShardUnavailableError: shard 3: circuit open; retry in 4.2 s
    """

    def __init__(self, message: str, *, lost: bool = False):
        super().__init__(message)
        self.lost = lost


class LeaseError(EconoNexusError):
    """Another writer holds (or took over) the one-writer lease of a pool root.

    Examples
    --------
    >>> raise LeaseError("pool 'agents' is held by host:4242:ab12")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.LeaseError: pool 'agents' is held by host:4242:ab12
    """


class IntegrityError(EconoNexusError):
    """Stored data does not match the hash recorded for it (edited, cut or replaced).

    Examples
    --------
    >>> raise IntegrityError("allocations.parquet: SHA-256 differs")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.IntegrityError: allocations.parquet: SHA-256 differs
    """


class JournalError(IntegrityError):
    """A pool's journal fails its integrity check: a missing, edited or out-of-chain entry.

    Examples
    --------
    >>> raise JournalError("entry 000000000010 differs from its chain record")
    Traceback (most recent call last):
    ...
    econonexus._core.errors.JournalError: entry 000000000010 differs from its chain record
    """
