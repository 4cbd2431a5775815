"""Calls to shard actors: timeouts, retries with exponential backoff, a circuit breaker per shard.

``ask`` returns a :class:`concurrent.futures.Future`; ``tell`` sends and
forgets (its failures still count against the shard's breaker). A call that
times out or cannot reach the worker is retried after ``backoff * 2**k``
seconds; an actor whose worker died is not retried (Dask never brings it
back: it needs recovery); an exception raised by the method itself is the
caller's and is not retried either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from econonexus._core.config import setting_default
from econonexus._core.errors import ShardUnavailableError

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half-open"]


@dataclass
class CircuitBreaker:
    """Closed: calls pass. ``failure_threshold`` failures in a row open it: calls fail
    at once. After ``reset_after`` seconds it is half-open: calls pass again as
    trials; one success closes it, one failure opens it for another period."""

    failure_threshold: int = field(default_factory=setting_default("agents.breaker-failures", int))
    reset_after: float = field(default_factory=setting_default("agents.breaker-reset", float))
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> BreakerState:
        """The breaker's state now."""
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.reset_after else "open"

    def check(self, name: str) -> None:
        """Raise :class:`ShardUnavailableError` if the breaker is open."""
        if self.state == "open":
            assert self.opened_at is not None
            wait = self.reset_after - (self.clock() - self.opened_at)
            raise ShardUnavailableError(
                f"{name}: circuit open after {self.failures} failures; retry in {wait:.1f} s"
            )

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        with self._lock:
            self.failures, self.opened_at = 0, None

    def record_failure(self) -> None:
        """A call failed: open the breaker at the threshold, or again after a failed trial."""
        with self._lock:
            self.failures += 1
            if self.failures >= self.failure_threshold or self.opened_at is not None:
                self.opened_at = self.clock()


class _ActorResult(Protocol[T]):  # type: ignore[misc]
    def result(self, timeout: float | None = None) -> T: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Per-call timeout (seconds), number of retries and the first backoff delay.

    Each field defaults to its ``econonexus.agents.*`` setting.
    """

    timeout: float = field(default_factory=setting_default("agents.call-timeout", float))
    retries: int = field(default_factory=setting_default("agents.call-retries", int))
    backoff: float = field(default_factory=setting_default("agents.backoff", float))
    max_backoff: float = field(default_factory=setting_default("agents.max-backoff", float))

    @classmethod
    def from_config(cls) -> RetryPolicy:
        """The policy the settings give (the same as ``RetryPolicy()``; kept for callers)."""
        return cls()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (0-based)."""
        return float(min(self.max_backoff, self.backoff * 2**attempt))


def call(
    send: Callable[[], _ActorResult[T]], *, name: str, policy: RetryPolicy, breaker: CircuitBreaker
) -> T:
    """Send an actor call and wait for it, retrying unreachable or slow shards."""
    for attempt in range(policy.retries + 1):
        breaker.check(name)
        try:
            value = send().result(timeout=policy.timeout)
        except RuntimeError as exc:
            if "Actor was lost" not in str(exc):
                raise
            breaker.record_failure()
            raise ShardUnavailableError(f"{name}: lost with its worker ({exc})", lost=True) from exc
        except (TimeoutError, OSError) as exc:
            breaker.record_failure()
            if attempt == policy.retries:
                raise ShardUnavailableError(
                    f"{name}: no answer after {attempt + 1} attempts of {policy.timeout} s: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            time.sleep(policy.delay(attempt))
            continue
        breaker.record_success()
        return value
    raise AssertionError("unreachable")


class Messenger:
    """Runs ``ask`` and ``tell`` calls on a small thread pool."""

    def __init__(self, *, threads: int = 32):
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="enx-ask")

    def ask(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` (a :func:`call`) in the background; the future holds its result."""
        return self._pool.submit(fn, *args)

    def tell(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in the background and forget it."""
        self._pool.submit(fn, *args)

    def close(self) -> None:
        """Wait for calls in flight, then stop the threads."""
        self._pool.shutdown(wait=True)
