"""Document times on the bench clock.

bluesky stamps the ``time`` of every start, descriptor, event and stop document with
``time.time()``.  On a simulated bench the readings' timestamps come from the bench's
``SimClock``, so a lockstep 30-minute treatment would span a few wall seconds on the
stream's time axis while its readings span 30 minutes.  :func:`stamp_with_clock`
puts a layer between the RunEngine and every subscriber (the run writer, the progress
display, publishers) that replaces each document's time by the bench clock's time at
emission; journal and store then agree with the readings.  The wall time at which the
run started and stopped is kept in the start and stop documents as ``wall_time``.
A real bench (``WallClock``) does not install it: its documents are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from labctl.core.clock import Clock

__all__ = ["BenchTimeStamper", "stamp_with_clock"]

#: documents whose ``time`` is a scalar (event pages carry one time per event)
_SCALAR_TIME = {"start", "descriptor", "event", "stop"}
#: documents that also keep the wall time at which bluesky made them
_KEEP_WALL = {"start", "stop"}


class BenchTimeStamper:
    """``stamper(name, doc) -> doc`` with its times replaced by ``clock.now()`` (s).

    Returns a new document (the RunEngine's own copy is left untouched); documents
    without a time (resources, datums) are returned as they are.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, name: str, doc: dict) -> dict:
        if "time" not in doc:
            return doc
        now = float(self.clock.now())
        if name in _SCALAR_TIME:
            new = {**doc, "time": now}
            if name in _KEEP_WALL:
                new["wall_time"] = doc["time"]
            return new
        if name == "event_page":
            return {**doc, "time": [now] * len(doc["time"])}
        return doc


def stamp_with_clock(RE, clock: Clock) -> BenchTimeStamper:
    """Make every document ``RE`` dispatches carry ``clock``'s time (see module doc).

    Wraps the RunEngine's dispatcher, so it applies to subscribers made before and
    after the call.  Returns the stamper.
    """
    stamper = BenchTimeStamper(clock)
    dispatch: Callable = RE.dispatcher.process

    def process(name, doc):
        return dispatch(name, stamper(getattr(name, "name", name), doc))

    RE.dispatcher.process = process
    return stamper
