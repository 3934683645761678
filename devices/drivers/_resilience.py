"""Retries, resynchronisation and reconnection shared by the protocol drivers.

Rules every driver follows:

- only idempotent exchanges are retried: queries, and commands that switch an output
  *off*; a command that energizes (heat on, emission on) or changes a setpoint is sent
  once and its failure is reported, never repeated blindly;
- a retry is preceded by resynchronisation: bytes left on the line (a late or garbled
  reply) are discarded so they cannot be taken for the next reply;
- after a transport error the transport is reopened if it offers ``reopen()`` (a
  serial adapter that was unplugged and plugged back), before the next attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from labctl.core.errors import InstrumentError, InterlockError, LabctlError, TransportError

__all__ = ["with_retries", "resync", "reconnect", "RETRYABLE_CODES"]

T = TypeVar("T")

#: default: an error is worth retrying if it is a transport error or a reply that could
#: not be parsed (an ``InstrumentError`` without a ``code``); drivers add the refusal
#: codes that mean "the command arrived garbled" (e.g. unknown command)
RETRYABLE_CODES: frozenset = frozenset()


def reconnect(transport) -> bool:
    """Reopen ``transport`` if it can be reopened; returns whether it was."""
    reopen = getattr(transport, "reopen", None)
    if reopen is None:
        return False
    try:
        reopen()
    except LabctlError:
        return False
    return True


def resync(transport) -> None:
    """Drop whatever is waiting on the line (a late or garbled reply)."""
    try:
        transport.discard_input()
    except TransportError:
        reconnect(transport)


def is_retryable(exc: Exception, codes: frozenset = RETRYABLE_CODES) -> bool:
    """Transport errors and unparsable replies; refusals only with one of ``codes``."""
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, InterlockError) or not isinstance(exc, InstrumentError):
        return False
    code = getattr(exc, "code", None)
    return code is None or code in codes


def with_retries(
    fn: Callable[[], T],
    *,
    retries: int,
    transport,
    codes: frozenset = RETRYABLE_CODES,
    on_retry: Callable[[Exception], None] | None = None,
) -> T:
    """Call ``fn`` (one idempotent exchange, parsing included) up to ``1 + retries``
    times; resynchronise (and reconnect after a transport error) between attempts.

    The last error is raised, with the number of attempts added to its message.
    """
    attempts = 1 + max(0, int(retries))
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (TransportError, InstrumentError) as exc:
            if not is_retryable(exc, codes) or attempt == attempts:
                if attempt > 1:
                    exc.args = (
                        f"{exc.args[0] if exc.args else exc} (after {attempt} attempts)",
                        *exc.args[1:],
                    )
                raise
            if on_retry is not None:
                on_retry(exc)
            if isinstance(exc, TransportError):
                reconnect(transport)
            resync(transport)
    raise AssertionError("unreachable")  # pragma: no cover
