"""Run reports: figures (PNG) and an ``index.html`` for one run store, and text summaries.

``make_report(path, out_dir)`` reads the run with ``labctl.data.read_run`` and writes
temperature traces with target and limits, field or laser power, the CEM43 curve, SAR
or PCE fits recomputed with ``labctl.analysis``, and montages of any image data.
Needs matplotlib (the ``plot`` extra); the text summaries (``labctl show``) do not.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = ["make_report", "Report", "describe_run", "headline_results", "find_run"]

_WHERE = {
    "make_report": "labctl.report.build",
    "Report": "labctl.report.build",
    "describe_run": "labctl.report.summary",
    "headline_results": "labctl.report.summary",
    "find_run": "labctl.report.summary",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
