"""Run a study's sessions through the protocol runner, on the simulated twin or hardware.

Simulated (``run_study(..., sim=True)``): subject after subject, every session whose time
is known runs in time order on the bench's twin, with the subject's simulated animal
(:class:`~labctl.simulators.physics.subject_state.SubjectState`) advanced analytically
to the session's time; then the decisions whose sources are complete are made, which
may give later sessions their time or their subjects a group; repeated until nothing
more can run.  Nothing runs between sessions, so days of study time cost nothing.

Hardware: one session per call, when the operator starts it (``--next``: the earliest
due session; or a named session of a named subject), on the study's real bench.

Every session's runs go to the study's data directory; their start documents carry
``study``, ``subject``, ``group``, ``session``, ``t_post_injection_s`` (absent without an
administration) and the subject's metadata.  A lock keeps a second ``study run`` of the
same study out.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labctl.config.study_file import StudyFile, load_study
from labctl.core.errors import ConfigError
from labctl.study import schedule
from labctl.study.decisions import decision_ready, make_decision
from labctl.study.records import StudyRecords

__all__ = ["run_study", "StudyOutcome", "session_metadata"]

#: plans whose tumor temperature is recorded in the subject's heat history
HEATING_PLANS = ("magnetic_hyperthermia", "photothermal_therapy", "image_guided_hyperthermia")


@dataclass
class StudyOutcome:
    """What a ``study run`` did: sessions run (subject, session, status), the decisions
    made and the subjects blocked with the reason."""

    ran: list = field(default_factory=list)
    decisions: list = field(default_factory=list)
    blocked: dict = field(default_factory=dict)
    simulated_s: float = 0.0  #: subject-time covered, s

    @property
    def ok(self) -> bool:
        return all(status == "success" for _, _, status in self.ran)


def session_metadata(sf: StudyFile, subject: str, group: str, slot) -> dict:
    """The start-document metadata of one subject's session."""
    s = sf.subject(subject)
    md = {
        "study": sf.study.study,
        "subject": subject,
        "animal_id": subject,
        "group": group,
        "session": slot.session.name,
        "study_time_s": slot.t_s,
        **{k: v for k, v in (("sex", s.sex), ("weight_g", s.weight_g)) if v is not None},
        **({"tumor_model": s.tumor_model} if s.tumor_model else {}),
        **({"inoculated": s.inoculated.isoformat()} if s.inoculated else {}),
        **s.metadata,
        **slot.session.metadata,
    }
    if slot.t_post_injection_s is not None:
        md["t_post_injection_s"] = slot.t_post_injection_s
        adm = schedule.administrations_of(sf, group)
        if adm:
            md["agent"] = adm[-1][1].agent
            md["dose"] = adm[-1][1].dose
    return md


def _protocol_file(sf: StudyFile, records: StudyRecords, session) -> Path:
    """The session's protocol file; inline ``steps`` are written to the study directory
    (so what ran stays beside its data)."""
    if session.protocol is not None:
        return sf.resolve(session.protocol)
    if sf.study.bench is None:
        raise ConfigError(
            f"{sf.doc.where(('sessions',))}: session {session.name!r} has inline steps, so "
            "the study needs a 'bench:'"
        )
    path = records.dir / "protocols" / f"{session.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        {
            "protocol": f"{sf.study.study}/{session.name}",
            "bench": str(sf.resolve(sf.study.bench).resolve()),
            "steps": session.steps,
        },
        sort_keys=False,
    )
    path.write_text(text)
    return path


def _bench_file(sf: StudyFile) -> Path | None:
    return sf.resolve(sf.study.bench) if sf.study.bench else None


def _state(sf: StudyFile, records: StudyRecords, subject: str):
    """The subject's simulated animal, drawn once from the study seed."""
    from labctl.simulators.physics.subject_state import SubjectState

    path = records.subject_path(subject)
    if path.exists():
        return SubjectState.load(path)
    v = sf.study.variability
    index = [s.id for s in sf.study.subjects].index(subject)
    weight = sf.subject(subject).weight_g or 25.0
    state = SubjectState.draw(
        subject,
        sf.study.seed,
        index,
        cv={
            "k_trans": v.k_trans_cv,
            "plasma_half_life": v.plasma_half_life_cv,
            "perfusion": v.perfusion_cv,
            "tumor_diameter": v.tumor_diameter_cv,
        },
        diameter_mm=float(_base_sample(sf).get("tumor_diameter_mm", 6.0)),
        doubling_d=v.tumor_doubling_d,
        body_mass_g=weight,
    )
    state.save(path)
    return state


def _base_sample(sf: StudyFile) -> dict:
    from labctl.config.bench_file import load_bench_config

    bench = _bench_file(sf)
    if bench is None:
        raise ConfigError(f"{sf.path}: a simulated study needs a 'bench:' with a sample")
    sample = load_bench_config(bench).sample
    if not sample or sample.get("kind") != "mouse_tumor":
        raise ConfigError(f"{bench}: a simulated study needs a mouse_tumor sample")
    return dict(sample)


def _administer(sf: StudyFile, state, group: str, t_s: float) -> None:
    """Give the subject the administrations of its group up to study time ``t_s``."""
    given = {a["t_s"] for a in state.administrations}
    for t_adm, adm in schedule.administrations_of(sf, group):
        if t_adm <= t_s and t_adm not in given:
            dose, _unit = schedule.dose_of(adm)
            state.administer(t_adm, dose, {"absorber": "icg", **adm.sim}, adm.carrier)


def _heat_summary(path: Path) -> tuple[float, float] | None:
    """Peak tumor temperature (C) and CEM43 (min) of a heating run, from its store."""
    import numpy as np

    from labctl.analysis.dose import cem43
    from labctl.data import read_run

    run = read_run(path)
    ds = run.stream("primary")
    key = next((k for k in ds.data_vars if k.endswith("_tumor")), None)
    if key is None:
        return None
    T = np.asarray(ds[key].values, dtype=float)
    t = np.asarray(run.timestamps("primary")[key].values, dtype=float)
    ok = np.isfinite(T)
    if ok.sum() < 2:
        return None
    return float(T[ok].max()), float(cem43(t[ok], T[ok]))


def _run_session(sf, records, subject, group, slot, *, sim: bool, quiet: bool) -> str:
    """Run one session (all its steps), record it in the ledger; returns the status."""
    from labctl.protocol.runner import run_protocol

    state, sample = None, None
    if sim:
        state = _state(sf, records, subject)
        _administer(sf, state, group, slot.t_s)
        if slot.t_s < state.t_s:
            reason = (
                f"scheduled at {slot.t_s / 3600:.2f} h, before the end of the subject's last "
                f"session ({state.t_s / 3600:.2f} h)"
            )
            record = {"status": "blocked", "reason": reason, "t_s": slot.t_s, "runs": []}
            records.record_session(subject, slot.session.name, record)
            return "blocked"
        state.advance(slot.t_s)
        sample = state.sample_overrides(slot.t_s, _base_sample(sf))
    md = session_metadata(sf, subject, group, slot)
    if not quiet:
        print(f"{subject} ({group}): session {slot.session.name} at {_hours(slot)}", flush=True)
    try:
        steps = run_protocol(
            _protocol_file(sf, records, slot.session),
            bench=_bench_file(sf),
            sim=sim,
            data_dir=sf.data_dir,
            quiet=True,
            metadata=md,
            sample=sample,
        )
        reason = next((s.reason for s in steps if s.exit_status != "success"), "")
        status = "success" if all(s.exit_status == "success" for s in steps) else "failed"
    except ConfigError:
        raise
    except Exception as exc:  # a device or plan error: this session failed, others go on
        steps, status, reason = [], "failed", f"{type(exc).__name__}: {exc}"
    runs = [
        {"uid": s.uid, "plan": s.plan, "status": s.exit_status, "path": _rel(sf, s.path)}
        for s in steps
    ]
    duration = _record_heat(sf, state, slot, steps) if state is not None else 0.0
    record = {
        "status": status,
        "reason": reason,
        "t_s": slot.t_s,
        "t_post_injection_s": slot.t_post_injection_s,
        "group": group,
        "runs": runs,
        "recorded": time.time(),
    }
    records.record_session(subject, slot.session.name, record)
    if state is not None:
        state.advance(slot.t_s + duration)
        state.save(records.subject_path(subject))
    return status


def _rel(sf: StudyFile, path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(sf.data_dir.resolve()))
    except ValueError:
        return str(path)


def _record_heat(sf, state, slot, steps) -> float:
    """Add heated runs to the subject's heat history; returns the session's duration (s)."""
    from labctl.data import read_run

    duration = 0.0
    for s in steps:
        if s.path is None:
            continue
        duration += _run_span_s(read_run(s.path))
        if s.plan in HEATING_PLANS:
            heat = _heat_summary(s.path)
            if heat is not None:
                state.record_heat(slot.session.name, slot.t_s, *heat)
            record = _tumor_record(s.path)
            if record is not None:
                t0 = slot.t_s + duration - record[0][-1] + record[0][0]
                state.heat_carrier(t0, record[0] - record[0][0], record[1], slot.t_s + duration)
    return duration


def _tumor_record(path):
    """``(t_s, T_C)`` of a run's tumor probe (reading times), or None."""
    import numpy as np

    from labctl.data import read_run

    run = read_run(path)
    ds = run.stream("primary")
    key = next((k for k in ds.data_vars if k.endswith("_tumor")), None)
    if key is None:
        return None
    t = np.asarray(run.timestamps("primary")[key].values, dtype=float)
    return t, np.asarray(ds[key].values, dtype=float)


def _run_span_s(run) -> float:
    """Clock time a run covered (first to last reading of ``primary``), s; on the
    simulated twin this is virtual time."""
    import numpy as np

    if "primary" not in run.streams:
        return 0.0
    stamps = run.timestamps("primary")
    values = [np.asarray(stamps[k].values, dtype=float) for k in stamps.data_vars]
    values = [v[np.isfinite(v)] for v in values if v.size]
    values = [v for v in values if v.size]
    if not values:
        return 0.0
    return float(max(v.max() for v in values) - min(v.min() for v in values))


def _hours(slot) -> str:
    if slot.t_post_injection_s is not None:
        return f"{slot.t_post_injection_s / 3600:.2f} h p.i."
    return f"study time {slot.t_s / 3600:.2f} h"


def _pending(sf, records, subject) -> list:
    """The subject's sessions that can run now (time known, not yet recorded)."""
    done = records.ledger().get(subject, {})
    return [
        s
        for s in schedule.timeline(sf, records, subject)
        if s.t_s is not None and s.session.name not in done
    ]


def _make_ready_decisions(sf, records, out: StudyOutcome) -> bool:
    made = False
    for d in sf.study.decisions:
        if records.decision(d.name) is None and decision_ready(sf, records, d):
            rec = make_decision(sf, records, d)
            out.decisions.append(rec)
            out.blocked.update({s: f"decision {d.name}: {r}" for s, r in rec["blocked"].items()})
            made = True
    return made


def _run_sim(sf: StudyFile, records: StudyRecords, quiet: bool) -> StudyOutcome:
    out = StudyOutcome()
    progress = True
    while progress:
        progress = False
        for subj in sf.study.subjects:
            group = schedule.subject_group(sf, records, subj.id)
            for slot in _pending(sf, records, subj.id):
                status = _run_session(sf, records, subj.id, group, slot, sim=True, quiet=quiet)
                out.ran.append((subj.id, slot.session.name, status))
                progress = True
        progress |= _make_ready_decisions(sf, records, out)
    for subj in sf.study.subjects:
        for slot in schedule.timeline(sf, records, subj.id):
            if slot.t_s is None and subj.id not in out.blocked:
                out.blocked[subj.id] = f"{slot.session.name}: {slot.reason}"
        state_path = records.subject_path(subj.id)
        if state_path.exists():
            from labctl.simulators.physics.subject_state import SubjectState

            out.simulated_s += SubjectState.load(state_path).t_s
    return out


def _run_hardware(sf, records, *, session, subject, quiet) -> StudyOutcome:
    out = StudyOutcome()
    _make_ready_decisions(sf, records, out)
    if session is not None:
        group = schedule.subject_group(sf, records, subject)
        sess = sf.session(session)
        if not schedule.applies(sess, group):
            raise ConfigError(f"session {session!r} is not for group {group!r} of {subject}")
        slot = schedule.session_time(sf, records, subject, sess)
        if slot.t_s is None:
            raise ConfigError(f"{subject}, session {session}: {slot.reason}")
        candidates = [(subject, group, slot)]
    else:
        candidates = [
            (s.id, schedule.subject_group(sf, records, s.id), slot)
            for s in sf.study.subjects
            for slot in _pending(sf, records, s.id)
        ]
        candidates.sort(key=lambda c: c[2].t_s)
        if not candidates:
            print(f"study {sf.study.study}: no session can run now")
            return out
    subject_id, group, slot = candidates[0]
    if sf.study.start is not None and slot.t_post_injection_s is not None:
        # on hardware the time since injection is the wall-clock one
        t_now = time.time() - sf.study.start.timestamp()
        slot = dataclasses.replace(
            slot, t_post_injection_s=slot.t_post_injection_s + t_now - slot.t_s
        )
    status = _run_session(sf, records, subject_id, group, slot, sim=False, quiet=quiet)
    out.ran.append((subject_id, slot.session.name, status))
    _make_ready_decisions(sf, records, out)
    return out


def run_study(
    path: str | Path,
    *,
    sim: bool = False,
    next_session: bool = False,
    session: str | None = None,
    subject: str | None = None,
    quiet: bool = False,
) -> StudyOutcome:
    """Run a study file (module doc); the study's lock is held throughout."""
    sf = load_study(path)
    if not sim and not next_session and session is None:
        raise ConfigError("say what to run: --sim, --next, or --session NAME --subject ID")
    if (session is None) != (subject is None):
        raise ConfigError("--session and --subject go together")
    if subject is not None:
        sf.subject(subject)
    records = StudyRecords(sf.data_dir)
    from labctl.data.locations import register_data_dir

    with records.lock(sf.study.study):
        register_data_dir(sf.data_dir)
        if sim and session is None:
            return _run_sim(sf, records, quiet)
        if sim:
            raise ConfigError("--sim runs the whole study; leave out --session")
        return _run_hardware(sf, records, session=session, subject=subject, quiet=quiet)
