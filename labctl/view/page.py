"""The live page: one Bokeh document per browser session, fed from a :class:`LiveState`.

A periodic callback (every ``interval_ms``, 500 ms by default: two updates a second of
wall time) streams each trace's new points into its ``ColumnDataSource`` and rewrites
the text panels: run, phase, elapsed and remaining time, the latest value of each
channel with its units, the safety state (each guarded probe's margin to its limit,
a trip's reason in red) and the study context.  The buttons drive
:class:`~labctl.view.controls.RunControls`; they need the page's token.  Bokeh is
imported when a page is built (the ``view`` extra), not with this module.
"""

from __future__ import annotations

import html
import math

from labctl.protocol.progress import fmt_duration
from labctl.view.state import LiveState

__all__ = ["LivePage"]

_STYLE = {"font-family": "sans-serif", "font-size": "14px"}
_PLOT_WIDTH = 820
_STATUS_COLORS = {"success": "green", "abort": "red", "fail": "red", "paused": "darkorange"}


class LivePage:
    """The widgets of one session.  ``controls``: the run's controls or None (a view of
    a remote or finished run has no buttons); ``allowed``: this session holds the token;
    ``on_shown``: called after each update (the server waits on it before stopping)."""

    def __init__(
        self, state: LiveState, controls=None, *, allowed: bool = False, on_shown=None
    ) -> None:
        from bokeh.layouts import column, row
        from bokeh.models import Div

        self.state = state
        self.controls = controls if allowed else None
        self.locked = controls is not None and not allowed
        self.on_shown = on_shown or (lambda: None)
        self.seen: dict[str, tuple[int, int]] = {}
        self.sources: dict = {}  # trace name -> ColumnDataSource
        self.layout_key = None
        self.version = -1
        # fixed sizes: new text never changes the layout (a relayout per update is slow)
        self.header = Div(text="", styles=_STYLE, width=560, height=330)
        self.latest = Div(text="", styles=_STYLE, width=440, height=520)
        self.safety = Div(text="", styles=_STYLE, width=440, height=220)
        self.message = Div(text="", styles=_STYLE, width=360, height=40)
        self.plots = column(Div(text="<i>waiting for the first readings</i>"), width=_PLOT_WIDTH)
        self.root = column(
            row(self.header, column(self._buttons(), self.message)),
            row(self.plots, column(self.latest, self.safety)),
        )

    def _buttons(self):
        from bokeh.layouts import row
        from bokeh.models import Button, Div

        if self.controls is None:
            return Div(text="<i>the controls need the page's token</i>" if self.locked else "")
        buttons = []
        for label, kind, action in (
            ("Pause", "warning", self.controls.pause),
            ("Resume", "success", self.controls.resume),
            ("Abort", "danger", self.controls.abort),
        ):
            button = Button(label=label, button_type=kind, width=110)
            button.on_click(lambda _event=None, act=action: self._act(act))
            buttons.append(button)
        return row(*buttons)

    def _act(self, action) -> None:
        self.message.text = html.escape(action())

    # -- periodic update ------------------------------------------------------------------
    def update(self) -> None:
        """Called every ``interval_ms`` by the session: new points and new text."""
        state = self.state
        with state.lock:
            key = (state.uid, tuple((g.title, tuple(g.traces)) for g in state.groups))
            changed = state.version != self.version
            self.version = state.version
        if key != self.layout_key:
            self._rebuild(key)
        for name, (replace, t, y) in state.updates(self.seen).items():
            source = self.sources.get(name)
            if source is None:
                continue
            if replace:
                source.data = {"t": t, "y": y}
            else:
                source.stream({"t": t, "y": y})
        if changed:
            self._text()
        self.on_shown()

    def _rebuild(self, key) -> None:
        from bokeh.models import ColumnDataSource
        from bokeh.palettes import Category10_10
        from bokeh.plotting import figure

        self.layout_key = key
        self.seen.clear()
        self.sources = {}
        figures = []
        for group in self.state.groups:
            fig = figure(
                title=group.title,
                height=240,
                width=_PLOT_WIDTH,
                x_axis_label="bench time (min)",
                y_axis_label=group.y_label,
                tools="pan,wheel_zoom,box_zoom,reset,save",
            )
            for i, (name, label) in enumerate(group.traces):
                source = ColumnDataSource({"t": [], "y": []})
                self.sources[name] = source
                dash = "dashed" if label in ("setpoint", "commanded", "target") else "solid"
                color = "red" if label.endswith("limit") else Category10_10[i % 10]
                fig.line("t", "y", source=source, legend_label=label, color=color, line_dash=dash)
            if group.traces:
                fig.legend.click_policy = "hide"
                fig.legend.location = "top_left"
            figures.append(fig)
        if not figures:
            from bokeh.models import Div

            figures = [Div(text="<i>waiting for the first readings</i>")]
        self.plots.children = figures

    def _text(self) -> None:
        state = self.state
        with state.lock:
            self.header.text = _header(state)
            self.latest.text = _latest(state)
            self.safety.text = _safety(state)


def _header(state: LiveState) -> str:
    start = state.start_doc
    if not start:
        return "<h2>labctl live view</h2><p>waiting for a run</p>"
    color = _STATUS_COLORS.get(state.status, "black")
    status = f"<b style='color:{color}'>{html.escape(state.status)}</b>"
    if state.reason:
        status += f" ({html.escape(state.reason)})"
    rows = [
        (
            "run",
            f"{html.escape(str(start.get('plan_name', '?')))} · uid {html.escape(state.uid or '')}",
        ),
        ("store", html.escape(str(state.path or "(not written)"))),
        ("status", status),
        ("phase", html.escape(state.phase or "-")),
        ("elapsed", fmt_duration(state.elapsed_s)),
        ("remaining", state.remaining()),
        ("events", str(state.events)),
    ]
    rows += [(label, html.escape(value)) for label, value in state.context()]
    title = html.escape(str(start.get("protocol") or start.get("plan_name", "run")))
    return f"<h2>{title}</h2>" + _table(rows)


def _latest(state: LiveState) -> str:
    rows = []
    for key, (value, units) in sorted(state.latest.items()):
        text = f"{value:.2f}" if math.isfinite(value) else "invalid"
        rows.append((html.escape(key), f"{text} {html.escape(_units(units))}"))
    return "<h3>Latest readings</h3>" + _table(rows)


def _safety(state: LiveState) -> str:
    parts = ["<h3>Safety</h3>"]
    if state.trip:
        parts.append(f"<p style='color:red'><b>TRIP: {html.escape(state.trip)}</b></p>")
    monitor = state.start_doc.get("safety_monitor")
    if monitor is None:
        parts.append("<p>no safety monitor in this run</p>" if state.start_doc else "")
        return "".join(parts)
    rows = [
        (f"{role} margin", f"{margin:.2f} °C (at {value:.2f} of {value + margin:.1f} °C)")
        for role, value, margin in state.margins()
    ]
    rows.append(("check period", f"{monitor.get('period_s', math.nan):g} s"))
    if not state.trip:
        rows.append(("state", "armed" if state.status == "running" else state.status))
    return "".join(parts) + _table(rows)


def _units(units: str) -> str:
    return {"degC": "°C", "": ""}.get(units, units)


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"
