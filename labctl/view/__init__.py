"""The live view: every run in the browser as it happens (a document consumer).

- :class:`~labctl.view.state.LiveState`: a bluesky ``DocumentRouter`` keeping what the
  page shows (traces against the bench clock, latest values, safety state).
- :class:`~labctl.view.page.LivePage`: one browser session's Bokeh document.
- :class:`~labctl.view.server.LiveView`: the Bokeh server on a thread of its own.
- :class:`~labctl.view.controls.RunControls`: pause, resume and abort from the page.

Needs the ``view`` extra (Bokeh).
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = ["LiveState", "LivePage", "LiveView", "RunControls", "ABORT_REASON"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LiveState": "labctl.view.state",
        "LivePage": "labctl.view.page",
        "LiveView": "labctl.view.server",
        "RunControls": "labctl.view.controls",
        "ABORT_REASON": "labctl.view.controls",
    },
)
