"""The fault matrix: every fault at every phase of each energizing plan, simulated.

For each plan (SAR, magnetic hyperthermia, closed-loop PTT, PCE; short settings) and
each of its phases, a fresh lockstep simulated bench runs the plan and, at the
second ``primary`` event of the phase, one fault is injected (``labctl.simulators.faults``):
on the thermometer link and on the energizer's link (replies dropped, garbled or
delayed 5 s; the link disconnected for 2 s), a broken or stuck probe, and the
energizer's own faults (AMF: coolant loss, generator trip; laser: interlock open,
keylock off, controller over-temperature).

A case is a **safe shutdown** when the run ended with a safety trip or a labctl error
(never another exception), every output was off at the end, energy went off no later
than one monitor period after the fault was detected (or after the instrument was
reachable again, when the fault cut its link), and every event emitted before the
fault is in the run's store (``events lost`` counts those that are not).

``python -m labctl.testing.fault_matrix [--benches DIR] [--plans sar,pce]`` prints the matrix.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from labctl.core.errors import LabctlError
from labctl.kinds import get_kind
from labctl.kinds.base import LINK_FAULT_KINDS

__all__ = ["PlanSpec", "PLANS", "Case", "Outcome", "cases", "run_case", "run_matrix", "summary"]

VIAL_SAMPLE = {
    "components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}, {"mass_g": 1.0, "c_J_per_gK": 0.83}],
    "iron_mass_mg": 2.0,
}
FAST_GAINS = {"kp": 0.5, "ki": 0.005, "kd": 0.0}  # reach a 2 C step quickly
PHASE_CODES = {"equilibrate": 0, "baseline": 1, "ramp": 2, "hold": 3, "heat": 4, "cool": 5}
STUCK_S = 20.0  #: stuck-reading detection used by the matrix's benches, s
OUTAGE_S = 2.0  #: how long a disconnect lasts before the link comes back, s
DELAY_S = 5.0  #: reply delay of the delay fault, s


def _sar(b):
    from labctl.plans import sar_measurement

    return sar_measurement(
        b.amf,
        b.thermo,
        frequency=230e3,
        field=8.0,
        heat_time=30,
        cool_time=25,
        equilibrate=10,
        baseline=10,
        period=1.0,
        sample=VIAL_SAMPLE,
    )


def _hyperthermia(b):
    from labctl.plans import magnetic_hyperthermia

    return magnetic_hyperthermia(
        b.amf,
        b.thermo,
        target=39.0,
        hold=30,
        frequency=230e3,
        max_field=12.0,
        ramp_rate=None,
        gains=FAST_GAINS,
    )


def _ptt(b):
    from labctl.plans import photothermal_therapy

    return photothermal_therapy(
        b.laser, b.thermo, duration=60, target=39.0, ramp_rate=None, gains=FAST_GAINS
    )


def _pce(b):
    from labctl.plans import photothermal_conversion

    return photothermal_conversion(
        b.laser,
        b.thermo,
        power=0.5,
        heat_time=30,
        cool_time=25,
        baseline=10,
        absorbance=1.0,
        sample=VIAL_SAMPLE,
    )


@dataclass(frozen=True)
class PlanSpec:
    """An energizing plan in the matrix: its bench file, energizer, probes and phases."""

    name: str
    bench: str
    energizer: str
    control_role: str
    phases: tuple[str, ...]
    make: Callable
    other_guarded_role: str | None = None  #: a guarded probe the plan does not control on


PLANS = {
    "sar": PlanSpec(
        "sar", "sim-vial.yaml", "amf", "sample", ("equilibrate", "baseline", "heat", "cool"), _sar
    ),
    "hyperthermia": PlanSpec(
        "hyperthermia", "sim-mouse.yaml", "amf", "tumor", ("ramp", "hold"), _hyperthermia, "skin"
    ),
    "ptt": PlanSpec("ptt", "sim-mouse.yaml", "laser", "tumor", ("ramp", "hold"), _ptt, "skin"),
    "pce": PlanSpec("pce", "sim-vial.yaml", "laser", "sample", ("baseline", "heat", "cool"), _pce),
}


def _instrument_faults(kind: str) -> tuple[str, ...]:
    """The instrument faults the twin can inject into a device of ``kind``."""
    return get_kind(kind).entry.fault_kinds


@dataclass(frozen=True)
class Case:
    """One fault (``kind`` on ``device``, probe faults on ``role``) at one phase of a plan."""

    plan: str
    phase: str
    kind: str
    device: str
    role: str | None = None

    @property
    def label(self) -> str:
        where = self.device + (f".{self.role}" if self.role else "")
        return f"{self.plan}/{self.phase}: {self.kind} on {where}"


def cases(plans: list[str] | None = None) -> list[Case]:
    """Every (plan, phase, fault) combination."""
    out = []
    for spec in (PLANS[p] for p in (plans or list(PLANS))):
        faults = [(k, "thermo", None) for k in LINK_FAULT_KINDS]
        faults += [
            ("probe_broken", "thermo", spec.control_role),
            ("probe_stuck", "thermo", spec.control_role),
        ]
        if spec.other_guarded_role:
            faults.append(("probe_broken", "thermo", spec.other_guarded_role))
        faults += [(k, spec.energizer, None) for k in LINK_FAULT_KINDS]
        faults += [(k, spec.energizer, None) for k in _instrument_faults(spec.energizer)]
        out += [
            Case(spec.name, phase, k, dev, role) for phase in spec.phases for k, dev, role in faults
        ]
    return out


@dataclass
class Outcome:
    """What happened in one case (times: bench-clock seconds after the fault)."""

    case: Case
    injected: bool = False
    exit_status: str = ""
    reason: str = ""
    error: str = ""  #: the exception RE(plan) raised (type: message)
    tripped: bool = False
    trip_kind: str = ""
    detect_s: float = math.nan  #: fault -> trip (or plan error)
    off_s: float = math.nan  #: fault -> energy off (0 if it was already off)
    reachable_s: float = 0.0  #: fault -> energizer reachable again
    outputs_off: bool = False
    trip_in_store: bool = False
    events_before: int = 0
    events_lost: int = 0
    notes: list[str] = field(default_factory=list)
    safe: bool = False


class _Energy:
    """Records when the world's AMF field or laser power changes (clock time, on?)."""

    def __init__(self, bench) -> None:
        world = bench.twin.world
        self.clock = bench.clock
        self.field = 0.0
        self.power = 0.0
        self.changes: list[tuple[float, bool]] = [(self.clock.now(), False)]
        set_amf, set_laser = world.set_amf, world.set_laser

        def amf(frequency_Hz, field_A_m):
            self.field = field_A_m
            self._note()
            set_amf(frequency_Hz, field_A_m)

        def laser(power_W, wavelength_nm, area_cm2):
            self.power = power_W
            self._note()
            set_laser(power_W, wavelength_nm, area_cm2)

        world.set_amf, world.set_laser = amf, laser

    @property
    def on(self) -> bool:
        return self.field > 0 or self.power > 0

    def _note(self) -> None:
        if self.on != self.changes[-1][1]:
            self.changes.append((self.clock.now(), self.on))

    def off_since(self) -> float | None:
        """Clock time since which energy has been off (None if on now)."""
        return None if self.on else self.changes[-1][0]


def _make_bench(spec: PlanSpec, benches: Path, data_dir: Path, edit=None):
    from labctl.bench import Bench
    from labctl.config.bench_file import load_bench_config

    config = load_bench_config(benches / spec.bench)
    config.safety.stuck_s = STUCK_S
    if edit is not None:
        edit(config)
    return Bench(config, data_dir=data_dir)


def run_case(case: Case, benches: Path, data_dir: Path, edit: Callable | None = None) -> Outcome:
    """Run one case on a fresh bench (see the module docstring); ``edit(config)`` may
    change the bench configuration first."""
    from labctl.simulators.faults import Fault

    spec = PLANS[case.plan]
    bench = _make_bench(spec, benches, data_dir, edit)
    out = Outcome(case)
    docs: list[tuple[str, dict]] = []
    primary: set[str] = set()
    mark: dict = {}
    energy = _Energy(bench)
    period = bench.safety.period_s if bench.safety is not None else 0.5

    def on_document(name, doc):
        docs.append((name, doc))
        if name == "descriptor" and doc["name"] == "primary":
            primary.add(doc["uid"])
        if (
            name != "event"
            or out.injected
            or doc["descriptor"] not in primary
            or doc["data"].get("control_phase") != PHASE_CODES[case.phase]
        ):
            return
        mark["seen"] = mark.get("seen", 0) + 1
        if mark["seen"] < 2:
            return
        channel, value = None, None
        if case.role is not None:
            channel = {r: c for c, r in bench.thermo.roles.items()}[case.role]
            value = doc["data"].get(f"thermo_{case.role}")
        fault = Fault(
            case.kind,
            case.device,
            channel=channel,
            value=value,
            delay_s=DELAY_S,
            duration_s=OUTAGE_S if case.kind == "disconnect" else None,
        )
        bench.faults.inject(fault)
        out.injected = True
        mark["t"] = bench.clock.now()
        mark["energized"] = energy.on
        mark["docs"] = len(docs)
        if case.kind == "disconnect" and case.device == spec.energizer:
            out.reachable_s = OUTAGE_S

    bench.RE.subscribe(on_document)
    try:
        try:
            bench.RE(spec.make(bench))
        except LabctlError as exc:
            out.error = f"{type(exc).__name__}: {exc}"
            mark["t_error"] = bench.clock.now()
        except Exception as exc:  # anything else is a defect the matrix reports
            out.error = f"UNEXPECTED {type(exc).__name__}: {exc}"
            out.notes.append("an exception other than a labctl error escaped")
        _settle(bench, energy, period)
        _judge(out, bench, docs, mark, energy, period)
    finally:
        bench.close()
    return out


def _settle(bench, energy: _Energy, period: float, limit_s: float = 10.0) -> None:
    """After the run, let a pending switch-off complete (the monitor retries each period
    until the instrument answers again); lockstep time only moves when asked."""
    waited = 0.0
    while ((bench.safety is not None and bench.safety.running) or energy.on) and waited < limit_s:
        bench.clock.advance(period)
        waited += period


def _judge(out: Outcome, bench, docs, mark, energy: _Energy, period: float) -> None:
    stop = next((d for n, d in docs if n == "stop"), {})
    out.exit_status, out.reason = stop.get("exit_status", ""), stop.get("reason", "")
    if not out.injected:
        out.notes.append("the phase was never reached: fault not injected")
        return
    t0 = mark["t"]
    trip = bench.safety.trips[-1] if bench.safety is not None and bench.safety.trips else None
    if trip is not None and trip.time >= t0:
        out.tripped, out.trip_kind, out.detect_s = True, trip.kind, trip.time - t0
    elif "t_error" in mark:
        out.detect_s = mark["t_error"] - t0
    emulators = bench.twin.emulators
    amf, laser = emulators.get("amf"), emulators.get("laser")
    out.outputs_off = (
        not energy.on
        and not (amf is not None and amf.heating)
        and not (laser is not None and laser.emission_on)
    )
    since = energy.off_since()
    if not mark["energized"]:
        out.off_s = (
            0.0
            if since is not None and since <= t0
            else (math.nan if since is None else since - t0)
        )
    elif since is not None:
        out.off_s = since - t0
    before = [d for n, d in docs[: mark["docs"]] if n == "event"]
    out.events_before = len(before)
    out.events_lost, out.trip_in_store = _store_check(bench, docs, before, out)
    deadline = max(out.detect_s, out.reachable_s) + period + 1e-6
    checks = {
        "ended with a safety trip or a labctl error": bool(out.error)
        and not out.error.startswith("UNEXPECTED"),
        "outputs off at the end": out.outputs_off,
        "energy off within one monitor period of detection": math.isfinite(out.off_s)
        and out.off_s <= deadline,
        "no event emitted before the fault lost": out.events_lost == 0,
        "trip recorded in the run (when the run was open)": out.trip_in_store,
    }
    out.notes += [f"FAILED: {what}" for what, ok in checks.items() if not ok]
    out.safe = all(checks.values())


def _store_check(bench, docs, before, out: Outcome) -> tuple[int, bool]:
    """Events emitted before the fault that the store lacks; whether the trip is stored."""
    path = getattr(bench, "last_run_path", None)
    names = {d["uid"]: d["name"] for n, d in docs if n == "descriptor"}
    safety_docs = [d for n, d in docs if n == "event" and names.get(d["descriptor"]) == "safety"]
    if out.tripped and not safety_docs:
        out.notes.append("tripped after the run had closed: trip kept by the monitor only")
    if path is None:  # no run writer on this bench: the emitted documents are the record
        out.notes.append("no run store: compared against the emitted documents")
        return 0, True
    from labctl.data import read_run

    run = read_run(path)
    stored: dict[str, set[int]] = {}
    for name in run.streams:
        ds = run.stream(name)
        stored[name] = (
            {int(s) for s in ds["seq_num"].values} if "seq_num" in ds.variables else set()
        )
    lost = sum(1 for e in before if e["seq_num"] not in stored.get(names[e["descriptor"]], ()))
    return lost, len(stored.get("safety", ())) == len(safety_docs)


def run_matrix(
    plans: list[str] | None = None,
    benches: str | Path | None = None,
    data_dir: str | Path | None = None,
    workers: int = 1,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every case (in ``workers`` processes); ``benches`` is the directory of the
    example bench files.  Outcomes come back in case order."""
    benches = Path(benches) if benches is not None else _default_benches()
    todo = cases(plans)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(data_dir) if data_dir is not None else Path(tmp)
        if workers <= 1:
            outcomes = []
            for case in todo:
                outcomes.append(run_case(case, benches, root))
                if progress is not None:
                    progress(outcomes[-1])
            return outcomes
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # the RunEngine runs threads
        with ProcessPoolExecutor(workers, mp_context=context, initializer=quiet_logs) as pool:
            futures = [pool.submit(run_case, case, benches, root) for case in todo]
            outcomes = []
            for future in futures:
                outcomes.append(future.result())
                if progress is not None:
                    progress(outcomes[-1])
            return outcomes


def quiet_logs() -> None:
    """Keep the expected error logs (the RunEngine's "Run aborted" tracebacks, a closing
    bench's unconfirmed switch-off on a dead link) off stderr."""
    import logging

    for name in ("bluesky", "ophyd", "labctl.bench"):
        logging.getLogger(name).addHandler(logging.NullHandler())


def _default_benches() -> Path:
    here = Path(__file__).resolve().parent.parent / "examples" / "benches"
    if not here.is_dir():
        raise LabctlError("pass benches=<directory of sim-vial.yaml and sim-mouse.yaml>")
    return here


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    """The matrix's counts."""
    return {
        "faults tried": len(outcomes),
        "safe shutdowns": sum(o.safe for o in outcomes),
        "events lost": sum(o.events_lost for o in outcomes),
        "monitor trips": sum(o.tripped for o in outcomes),
        "plan errors": sum(bool(o.error) and not o.tripped for o in outcomes),
    }


def format_outcome(o: Outcome) -> str:
    how = f"trip {o.trip_kind}" if o.tripped else (o.error.split(":")[0] or "no error")
    return (
        f"{'ok  ' if o.safe else 'FAIL'} {o.case.label:<52} {how:<26} "
        f"detect {o.detect_s:6.2f} s  off {o.off_s:6.2f} s  lost {o.events_lost}"
        + ("" if o.safe else "  " + "; ".join(o.notes))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labctl.testing.fault_matrix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--benches", help="directory holding sim-vial.yaml and sim-mouse.yaml")
    parser.add_argument("--plans", help=f"comma-separated subset of {','.join(PLANS)}")
    parser.add_argument("-j", "--workers", type=int, default=1, help="worker processes")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the counts")
    args = parser.parse_args(argv)
    plans = args.plans.split(",") if args.plans else None
    quiet_logs()
    t0 = time.perf_counter()
    outcomes = run_matrix(
        plans,
        args.benches,
        workers=args.workers,
        progress=None if args.quiet else lambda o: print(format_outcome(o)),
    )
    counts = summary(outcomes)
    print(
        ", ".join(f"{k}: {v}" for k, v in counts.items()) + f" ({time.perf_counter() - t0:.0f} s)"
    )
    return (
        0 if counts["safe shutdowns"] == counts["faults tried"] and not counts["events lost"] else 1
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
