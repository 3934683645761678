"""Live feedback: progress display, hinted live table (synthetic documents, fake wall clock)."""

import io
import math

import pytest

from labctl.protocol.progress import (
    HintedLiveTable,
    ProgressDisplay,
    expected_remaining_s,
    fmt_duration,
    has_display,
    live_plots,
)

T0 = 1_800_000_000.0


class FakeWall:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def hyperthermia_docs(n=100, dt=1.0, target=43.0, analysis=True, stop="success"):
    """Documents of a closed-loop run: ramp from 37 C to target, then hold."""
    start = {
        "uid": "u1",
        "plan_name": "magnetic_hyperthermia",
        "target_C": target,
        "control_channel": "tumor",
        "time": T0,
        "plan_args": {"target": target, "hold": 60, "ramp_rate": 1.0},
    }
    desc = {
        "uid": "d1",
        "name": "primary",
        "data_keys": {
            "thermo_tumor": {"units": "degC", "shape": [], "dtype": "number"},
            "thermo_skin": {"units": "degC", "shape": [], "dtype": "number"},
            "control_setpoint": {"units": "degC", "shape": [], "dtype": "number"},
            "control_cem43": {"units": "min", "shape": [], "dtype": "number"},
            "control_phase": {"shape": [], "dtype": "integer"},
        },
    }
    docs = [("start", start), ("descriptor", desc)]
    for i in range(n):
        T = min(37.0 + 0.2 * i, target)
        docs.append(
            (
                "event",
                {
                    "descriptor": "d1",
                    "time": T0 + i * 0.001,
                    "seq_num": i + 1,
                    "data": {
                        "thermo_tumor": T,
                        "thermo_skin": 36.0,
                        "control_setpoint": target,
                        "control_cem43": 0.01 * i,
                        "control_phase": 3 if target <= T else 2,
                    },
                    "timestamps": {"thermo_tumor": T0 + i * dt},
                },
            )
        )
    if analysis:
        docs.append(
            (
                "descriptor",
                {
                    "uid": "d2",
                    "name": "analysis",
                    "data_keys": {
                        "hyperthermia_cem43_min": {"units": "min", "shape": [], "dtype": "number"},
                        "hyperthermia_T_max_C": {"units": "degC", "shape": [], "dtype": "number"},
                        "hyperthermia_command_max": {
                            "units": "kA/m",
                            "shape": [],
                            "dtype": "number",
                        },
                    },
                },
            )
        )
        docs.append(
            (
                "event",
                {
                    "descriptor": "d2",
                    "time": T0 + n,
                    "seq_num": 1,
                    "data": {
                        "hyperthermia_cem43_min": 0.99,
                        "hyperthermia_T_max_C": 43.1,
                        "hyperthermia_command_max": 7.5,
                    },
                    "timestamps": {},
                },
            )
        )
    docs.append(
        (
            "stop",
            {
                "run_start": "u1",
                "exit_status": stop,
                "reason": "" if stop == "success" else "safety trip: skin 45.1 C",
            },
        )
    )
    return docs


def feed(cb, docs, wall=None, step=0.01):
    for name, doc in docs:
        if wall is not None:
            wall.t += step
        cb(name, doc)


def test_plain_output_is_short_and_throttled_on_wall_time():
    out, wall = io.StringIO(), FakeWall()
    pd = ProgressDisplay(out, tty=False, interval_s=5.0, wall=wall)
    # 100 events in 1 s of wall time: only the first line, the phase change and the end
    feed(pd, hyperthermia_docs(), wall)
    lines = out.getvalue().splitlines()
    status = [ln for ln in lines if "tumor" in ln]
    assert len(status) == 3, lines
    assert status[0].split()[0] == "ramp" and status[1].split()[0] == "hold"
    assert "\r" not in out.getvalue()
    assert any("cem43_min = 0.99 min" in ln for ln in lines)
    assert any("T_max_C = 43.1 degC" in ln for ln in lines)
    assert not any("command_max" in ln for ln in lines)  # not a headline result


def test_plain_output_prints_again_after_the_interval():
    out, wall = io.StringIO(), FakeWall()
    pd = ProgressDisplay(out, tty=False, interval_s=5.0, wall=wall)
    feed(pd, hyperthermia_docs(n=200), wall, step=1.0)  # 1 s of wall time per document
    status = [ln for ln in out.getvalue().splitlines() if "tumor" in ln]
    assert 35 <= len(status) <= 45  # ~200 s / 5 s, plus the phase change and the end


def test_tty_output_rewrites_one_line():
    out, wall = io.StringIO(), FakeWall()
    pd = ProgressDisplay(out, tty=True, wall=wall)
    feed(pd, hyperthermia_docs(n=20), wall, step=1.0)
    text = out.getvalue()
    assert text.count("\r") >= 20
    assert "\x1b[K" in text
    assert text.count("\n") == 1 + 2  # the progress line ends once; two result lines


def test_status_line_shows_elapsed_clock_time_remaining_temperature_and_dose():
    out = io.StringIO()
    pd = ProgressDisplay(out, tty=False)
    docs = hyperthermia_docs(n=60, dt=2.0)  # 2 s of bench clock per event
    feed(pd, docs[:-3])  # stop before the analysis and stop documents
    line = pd.status_line()
    # the last event: 59 * 2 s = 118 s after the first; target reached at event 30 (60 s)
    assert "t 1:58" in line
    assert f"/ {fmt_duration(60 - (118 - 60))} left" in line
    assert "tumor  43.0 C (setpoint 43.0)" in line
    assert "CEM43 0.59 min" in line


def test_abort_reason_is_printed():
    out = io.StringIO()
    feed(ProgressDisplay(out, tty=False), hyperthermia_docs(n=5, stop="abort"))
    assert "run ended: abort (safety trip: skin 45.1 C)" in out.getvalue()


def test_remaining_time_estimates():
    sar = {
        "plan_name": "sar_measurement",
        "plan_args": {"equilibrate": 60, "baseline": 30, "heat_time": 300, "cool_time": 300},
    }
    assert expected_remaining_s(sar, 90, 23.0, 0.0, None) == (600.0, False)
    pce = {
        "plan_name": "photothermal_conversion",
        "plan_args": {"baseline": 30, "heat_time": 1800, "cool_time": 1200},
    }
    assert expected_remaining_s(pce, 3030, 23.0, 0.0, None) == (0.0, False)
    ptt = {"plan_name": "photothermal_therapy", "plan_args": {"duration": 900}}
    assert expected_remaining_s(ptt, 100, 40.0, 0.0, None) == (800.0, False)
    mh = {
        "plan_name": "magnetic_hyperthermia",
        "plan_args": {"target": 43, "hold": 1800, "ramp_rate": 1.0},
    }
    left, estimate = expected_remaining_s(mh, 60, 40.0, 0.0, None)
    assert estimate and left == pytest.approx(1800 + 180)  # 3 C at 1 C/min, then the hold
    assert expected_remaining_s(mh, 700, 43.0, 5.0, 100.0) == (1200.0, False)
    dose = {
        "plan_name": "magnetic_hyperthermia",
        "plan_args": {"stop_on": "cem43", "cem43_target": 30.0},
    }
    left, estimate = expected_remaining_s(dose, 0, 44.0, 10.0, 0.0)
    assert estimate and left == pytest.approx(20.0 / 2.0 * 60)  # 2 CEM43 min per min at 44 C
    assert expected_remaining_s({"plan_name": "count"}, 5, 20.0, 0.0, None) is None
    assert expected_remaining_s(
        {"plan_name": "x", "expected_duration_s": 50}, 20, math.nan, 0.0, None
    ) == (30.0, True)


def test_fmt_duration():
    assert fmt_duration(59.6) == "1:00"
    assert fmt_duration(3725) == "1:02:05"
    assert fmt_duration(math.nan) == "--:--"


def count_docs(n):
    desc = {
        "uid": "d1",
        "name": "primary",
        "hints": {"thermo": {"fields": ["thermo_tumor"]}},
        "data_keys": {
            "thermo_tumor": {"dtype": "number", "shape": [], "precision": 1, "source": "x"},
            "thermo_tumor_status": {"dtype": "string", "shape": [], "source": "x"},
            "cam": {"dtype": "array", "shape": [4, 4], "source": "x"},
        },
    }
    docs = [
        (
            "start",
            {"uid": "u1", "plan_name": "count", "plan_type": "generator", "scan_id": 1, "time": T0},
        ),
        ("descriptor", desc),
    ]
    docs += [
        (
            "event",
            {
                "descriptor": "d1",
                "uid": f"e{i}",
                "time": T0 + i,
                "seq_num": i + 1,
                "data": {"thermo_tumor": 37.0 + i, "thermo_tumor_status": "ok"},
                "timestamps": {},
                "filled": {},
            },
        )
        for i in range(n)
    ]
    docs.append(
        ("stop", {"run_start": "u1", "exit_status": "success", "uid": "s1", "time": T0 + n})
    )
    return docs


def test_live_table_shows_hinted_fields_and_thins_fast_rows(monkeypatch):
    import bluesky.callbacks.core as core

    monkeypatch.setattr(core.ttime, "sleep", lambda s: None)  # LiveTable's cosmetic pause
    lines, wall = [], FakeWall()
    table = HintedLiveTable(min_interval_s=0.5, out=lines.append, wall=wall)
    feed(table, count_docs(10), wall, step=0.1)  # 10 rows in 1 s of wall time
    text = "\n".join(lines)
    assert "thermo_tumor" in text and "cam" not in text
    rows = [ln for ln in lines if ln.startswith("|") and "37" in ln or "46.0" in ln]
    values = [float(r.split("|")[3]) for r in rows]
    assert values[0] == 37.0 and values[-1] == 46.0  # first and always the last row
    assert len(values) < 10


def test_live_table_fields_fall_back_to_numbers_without_hints():
    table = HintedLiveTable(max_fields=2)
    desc = {
        "data_keys": {
            "a": {"dtype": "number", "shape": []},
            "b": {"dtype": "integer", "shape": []},
            "c": {"dtype": "number", "shape": []},
            "img": {"dtype": "array", "shape": [2, 2]},
        }
    }
    assert table.fields_for(desc) == ["a", "b"]


def test_no_live_plots_without_a_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert not has_display()
    assert live_plots() is None


def test_live_table_fields_fit_the_terminal_width():
    keys = {f"thermo_channel_{i}": {"dtype": "number", "shape": []} for i in range(8)}
    desc = {"data_keys": keys, "hints": {"thermo": {"fields": list(keys)}}}
    # 25 columns for seq_num and time, then 19 per field (16 characters + 2 + a separator)
    assert len(HintedLiveTable(width=25 + 3 * 19).fields_for(desc)) == 3
    assert len(HintedLiveTable(width=400).fields_for(desc)) == 8
    assert len(HintedLiveTable(width=10).fields_for(desc)) == 1  # always at least one
