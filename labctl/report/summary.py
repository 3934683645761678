"""Text summaries of runs (``labctl show``, ``labctl runs``, the end of ``labctl run``).

No matplotlib here: this module is imported by the live progress display.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from labctl.core.errors import DataError

__all__ = [
    "headline_results",
    "format_results",
    "describe_run",
    "find_run",
    "analysis_values",
    "METADATA_KEYS",
    "format_value",
]

#: start-document keys shown first (the protocol file's ``metadata``)
METADATA_KEYS = (
    "protocol",
    "study",
    "animal_id",
    "sample_id",
    "nanoparticle",
    "dose",
    "operator",
    "notes",
)

#: analysis results shown at the end of a run, by key suffix (plan prefix removed)
HEADLINE = (
    "stop_reason",
    "time_to_target_s",
    "time_at_target_s",
    "T_max_C",
    "cem43_min",
    "cem43_tumor_min",
    "cem43_skin_min",
    "guard_limited_s",
    "initial_slope_W_per_g",
    "corrected_slope_W_per_g",
    "box_lucas_W_per_g",
    "box_lucas_ilp_nH_m2_per_kg_Fe",
    "eta",
    "tau_s",
    "T_surr_C",
)


def format_value(value: Any, units: str = "") -> str:
    """A reading as text: 4 significant digits for floats, units appended."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = "nan" if math.isnan(value) else f"{value:.4g}"
    else:
        text = str(value)
    return f"{text} {units}".rstrip() if units else text


def _std_key(key: str, keys) -> str | None:
    """The key of ``key``'s uncertainty: its 95 % one (``_u95``) if stored, else ``_std``."""
    for tag in ("_u95", "_std"):
        for other in keys:
            if other != key and tag in other and other.replace(tag, "", 1) == key:
                return other
    return None


def _is_uncertainty_of(key: str, values) -> bool:
    return any(tag in key and key.replace(tag, "", 1) in values for tag in ("_u95", "_std"))


def format_results(
    values: dict[str, Any], units: dict[str, Any], only: tuple[str, ...] | None = None
) -> list[str]:
    """``name = value +/- std units`` lines of an analysis event (``only``: suffixes)."""
    lines = []
    keys = list(values)
    prefix = ""
    if keys and all("_" in k for k in keys):
        first = keys[0].split("_", 1)[0]
        if all(k.startswith(first + "_") for k in keys):
            prefix = first + "_"
    order = keys if only is None else [k for suffix in only for k in keys if k == prefix + suffix]
    for key in order:
        if only is None and _is_uncertainty_of(key, values):
            continue
        value = values[key]
        if isinstance(value, str) and not value:
            continue
        u = units.get(key, {})
        u = u.get("units", "") if isinstance(u, dict) else (u or "")
        text = format_value(value)
        std = _std_key(key, keys)
        if std is not None:
            text += f" +/- {format_value(values[std])}"
        note = " (95 %)" if std is not None and "_u95" in std else ""
        lines.append(f"{key[len(prefix) :]} = {text}" + (f" {u}" if u else "") + note)
    return lines


def headline_results(
    values: dict[str, Any],
    units: dict[str, Any],
    n_other: int = 6,
) -> list[str]:
    """The few results worth printing when a run ends (see ``HEADLINE``; the first
    ``n_other`` results of a plan that has none of those)."""
    return format_results(values, units, only=HEADLINE) or format_results(values, units)[:n_other]


def analysis_values(run) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's ``analysis`` event as ``{key: value}`` and its data keys (units)."""
    if "analysis" not in run.streams:
        return {}, {}
    ds = run.stream("analysis")
    if "time" not in ds.dims or ds.sizes["time"] == 0:
        return {}, {}
    values = {k: ds[k].values[-1] for k in ds.data_vars}
    units = {k: v for d in run.descriptors("analysis") for k, v in d["data_keys"].items()}
    return values, units


def find_run(spec: str | Path, data_dirs: list[str | Path]) -> Path:
    """A run store from a path or a uid (prefix) searched in ``data_dirs``."""
    p = Path(spec)
    if p.exists():
        return p
    from labctl.data import Catalog

    tried = []
    for d in data_dirs:
        if not Path(d).is_dir():
            continue
        tried.append(str(d))
        try:
            return Catalog(d).find(str(spec)).path
        except DataError as exc:
            if "matches" in str(exc):
                raise
    where = ", ".join(tried) if tried else "no data directory found"
    raise DataError(
        f"{spec}: no such run store, and no run with that uid in {where} "
        "(give the store's path, or --data-dir)"
    )


def _when(t: Any) -> str:
    try:
        return datetime.fromtimestamp(float(t)).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"


def describe_run(run) -> str:
    """Metadata, streams and results of an open run, as text."""
    start, stop = run.start, run.stop
    clock = (start.get("clock") or {}).get("kind", "?")
    lines = [
        f"run {run.uid}",
        f"  store     {run.path}",
        f"  plan      {start.get('plan_name', '?')} (scan {start.get('scan_id', '?')})",
        f"  started   {_when(start.get('time'))} on bench {start.get('bench', '?')} "
        f"({start.get('bench_mode', '?')}, clock {clock})",
    ]
    if stop:
        reason = f" ({stop['reason']})" if stop.get("reason") else ""
        lines.append(f"  ended     {_when(stop.get('time'))}: {stop.get('exit_status')}{reason}")
    else:
        lines.append("  ended     incomplete (running, or crashed: try 'labctl recover')")
    md = [(k, start[k]) for k in METADATA_KEYS if start.get(k) not in (None, "")]
    if md:
        lines.append("metadata")
        lines += [f"  {k:<12} {v}" for k, v in md]
    args = start.get("plan_args") or {}
    if args:
        lines.append("plan arguments")
        lines += [f"  {k:<12} {v}" for k, v in args.items() if v is not None]
    lines.append("streams")
    for name in run.streams:
        descs = run.descriptors(name)
        keys = {k: v for d in descs for k, v in d["data_keys"].items()}
        n = (stop or {}).get("num_events", {}).get(name)
        if n is None:
            ds = run.stream(name)
            n = ds.sizes.get("time", 0)
        shown = []
        for k, v in keys.items():
            extra = v.get("units") or ""
            if v.get("shape"):
                extra = "x".join(str(s) for s in v["shape"]) + (f" {extra}" if extra else "")
            shown.append(f"{k} [{extra}]" if extra else k)
        lines.append(f"  {name:<10} {n} events: {', '.join(shown)}")
    values, units = analysis_values(run)
    if values:
        lines.append("results")
        lines += [f"  {line}" for line in format_results(values, units)]
    return "\n".join(lines)


def format_run_list(runs) -> list[str]:
    """A table of catalog entries (``RunSummary``): start, uid, scan, plan, status, who."""
    lines = [
        f"{'started':<19}  {'uid':<8}  {'scan':>4}  {'plan':<26}  {'status':<11}  "
        f"{'protocol / sample':<28}  store"
    ]
    for r in runs:
        who = r.start.get("protocol") or r.start.get("sample_id") or r.start.get("animal_id") or ""
        lines.append(
            f"{_when(r.time):<19}  {r.uid[:8]:<8}  {r.scan_id!s:>4}  "
            f"{r.plan_name or '?':<26}  {r.exit_status:<11}  {str(who)[:28]:<28}  "
            f"{r.path}"
        )
    return lines
