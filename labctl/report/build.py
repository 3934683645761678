"""``make_report(run_path, out_dir)``: the figures of one run as PNGs and an index.html."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

from labctl.core.errors import DataError
from labctl.report.data import RunData
from labctl.report.summary import METADATA_KEYS, analysis_values, format_results, format_value

__all__ = ["make_report", "Report", "default_report_dir"]


@dataclass
class ReportFigure:
    file: str  #: PNG file name in the report directory
    title: str
    caption: str


@dataclass
class Report:
    """What ``make_report`` wrote: ``out_dir``, ``index`` (index.html) and ``figures``."""

    out_dir: Path
    index: Path
    figures: list[ReportFigure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


CAPTIONS = {
    "temperature": "Every thermometer channel against bench-clock time from the first "
    "reading, with the setpoint, the target and the per-role limits the "
    "safety monitor enforced; shaded: field or laser on.",
    "output": "What the plan commanded (dashed) and what the instrument read back.",
    "cem43": "Thermal dose per channel recomputed from the stored temperatures "
    "(Sapareto-Dewey, R = 0.5 above 43 C, 0.25 below), and the plan's live value.",
    "sar": "SAR recomputed with labctl.analysis from the stored curve, the heat capacity, "
    "the iron mass and the field on/off times: linear initial slope (thick: the "
    "fitted window) and Box-Lucas fit of the whole heating segment.",
    "pce": "Roper method recomputed from the stored curve: T_max at laser off, T_surr from "
    "the baseline, tau from the cooling until theta = 0.1.",
    "images": "Frames spread over the run, on one colour scale per column.",
}


def default_report_dir(run_path: str | Path) -> Path:
    """``<store>_report`` next to the store (``.../1_plan_abcd1234_report``)."""
    p = Path(run_path)
    return p.with_name(p.name.removesuffix(".zarr") + "_report")


def _figures(data: RunData):
    from labctl.report.figures import cem43_figure, output_figure, temperature_figure
    from labctl.report.fits import pce_figure, sar_figure
    from labctl.report.images import image_figures

    for name, make in (
        ("temperature", temperature_figure),
        ("output", output_figure),
        ("cem43", cem43_figure),
        ("sar", sar_figure),
        ("pce", pce_figure),
    ):
        yield name, name, make(data)
    for name, fig in image_figures(data):
        yield name, "images", fig


def _title(fig) -> str:
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text():
        return sup.get_text()
    for ax in fig.axes:
        if ax.get_title():
            return ax.get_title()
    return ""


def make_report(
    run_path: str | Path, out_dir: str | Path | None = None, *, dpi: int = 110
) -> Report:
    """Write the run's figures (PNG) and ``index.html`` into ``out_dir``
    (default: ``<store>_report`` beside the store).  Raises ``DataError`` if the
    path is not a run store."""
    from labctl.data import read_run

    run = read_run(run_path)
    out = Path(out_dir) if out_dir is not None else default_report_dir(run.path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out}: cannot create the report directory: {exc}") from exc
    data = RunData(run)
    report = Report(out, out / "index.html")
    for name, kind, fig in _figures(data):
        if fig is None:
            report.skipped.append(name)
            continue
        file = f"{name}.png"
        fig.savefig(out / file, dpi=dpi)
        report.figures.append(ReportFigure(file, _title(fig), CAPTIONS.get(kind, "")))
    report.index.write_text(_html(run, report), encoding="utf-8")
    return report


def _row(k, v) -> str:
    return f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"


def _html(run, report: Report) -> str:
    start, stop = run.start, run.stop or {}
    title = f"{start.get('plan_name', 'run')} {run.uid[:8]}"
    rows = [
        _row("uid", run.uid),
        _row("store", run.path),
        _row(
            "bench",
            f"{start.get('bench', '?')} ({start.get('bench_mode', '?')}, "
            f"clock {(start.get('clock') or {}).get('kind', '?')})",
        ),
        _row(
            "exit status",
            stop.get("exit_status", "incomplete")
            + (f": {stop['reason']}" if stop.get("reason") else ""),
        ),
    ]
    rows += [_row(k, start[k]) for k in METADATA_KEYS if start.get(k) not in (None, "")]
    args = start.get("plan_args") or {}
    rows += [_row(f"{k}", v) for k, v in args.items() if v is not None]
    values, units = analysis_values(run)
    results = "".join(f"<li>{html.escape(line)}</li>" for line in format_results(values, units))
    figs = "\n".join(
        f'<figure><h2>{html.escape(f.title)}</h2><img src="{html.escape(f.file)}" '
        f'alt="{html.escape(f.title)}"><figcaption>{html.escape(f.caption)}</figcaption>'
        f"</figure>"
        for f in report.figures
    )
    extra = ""
    sample = start.get("sample")
    if isinstance(sample, dict) and sample:
        extra = (
            "<h2>Sample</h2><table>"
            + "".join(
                _row(k, format_value(v) if isinstance(v, float) and math.isfinite(v) else v)
                for k, v in sample.items()
            )
            + "</table>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>labctl report: {html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }}
th {{ color: #555; font-weight: normal; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
figure {{ margin: 2em 0; }} figcaption {{ color: #555; font-size: 90%; }}
</style></head><body>
<h1>labctl report: {html.escape(title)}</h1>
<table>{"".join(rows)}</table>
{extra}
<h2>Results (analysis stream)</h2><ul>{results or "<li>none recorded</li>"}</ul>
{figs}
</body></html>
"""
