"""Study files: groups, subjects, agent administrations, scheduled sessions, decisions.

```yaml
study: ATH-2026-01
bench: ../benches/sim-mouse.yaml            # relative to this file
start: 2026-12-07T09:00:00                  # study time 0 (hardware schedule)
groups: {pilot: {description: time course}, treated: {}}
subjects:
  - {id: M01, group: pilot, sex: F, weight_g: 24.1, tumor_model: CT26}
administrations:
  - {agent: ICG liposomes, dose: 2 umol/kg, route: iv, at: 0 h}
sessions:
  - {name: img-24h, groups: [pilot], protocol: ../protocols/x.yaml, at: 24 h p.i.}
  - {name: treat, groups: [treated], at: "@peak p.i.", steps: [...]}
decisions:
  - {name: peak, kind: peak_time, group: pilot, sessions: [img-24h], metric: {...}}
```

Times (``at``): ``<duration> p.i.`` (after the subject's last administration before the
session), ``<duration> after <session>``, ``@<decision> [+|- <duration>] p.i.`` (a time
found by a decision), and for administrations a duration from study time 0.  Durations
take ``s``, ``min``, ``h`` or ``d``.  Doses are a number and a unit (``2 umol/kg``,
``10 mg/kg``).  The reference is docs/study-file.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labctl.config.yaml_loading import YamlDoc, format_validation_error, load_yaml
from labctl.core.errors import ConfigError

__all__ = [
    "Study",
    "StudyFile",
    "Subject",
    "Session",
    "Administration",
    "Decision",
    "SessionTime",
    "load_study",
    "parse_duration",
    "parse_dose",
    "parse_session_time",
]

_UNITS_S = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}
_DURATION = r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(s|sec|min|h|hr|d)"


def parse_duration(text: str | float | int) -> float:
    """``"24 h"`` -> 86400.0 s; a bare number is seconds.  Raises ``ValueError``."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = re.fullmatch(_DURATION, str(text).strip())
        if not m:
            raise ValueError(f"not a duration: {text!r} (e.g. '90 min', '24 h', '2 d')")
        value = float(m.group(1)) * _UNITS_S[m.group(2)]
    if not math.isfinite(value):
        raise ValueError(f"not a finite duration: {text!r}")
    return value


def parse_dose(text: str) -> tuple[float, str]:
    """``"2 umol/kg"`` -> ``(2.0, "umol/kg")``; the unit is checked with pint."""
    import pint

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(\S.*)", str(text))
    if not m:
        raise ValueError(f"a dose is a number and a unit (e.g. '2 umol/kg'), not {text!r}")
    value, unit = float(m.group(1)), m.group(2).strip()
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"a dose must be > 0, not {text!r}")
    try:
        pint.UnitRegistry().Unit(unit)
    except (pint.errors.UndefinedUnitError, AttributeError, TypeError, ValueError):
        raise ValueError(f"unknown dose unit {unit!r}") from None
    return value, unit


@dataclass(frozen=True)
class SessionTime:
    """A parsed session time: ``offset_s`` after the anchor.

    ``anchor``: ``"pi"`` (the subject's last administration), ``"session"`` (the start of
    session ``ref``) or ``"decision"`` (the time post injection found by decision ``ref``).
    """

    anchor: Literal["pi", "session", "decision"]
    offset_s: float
    ref: str | None = None


def parse_session_time(text: str) -> SessionTime:
    """Parse a session's ``at`` (module doc for the forms)."""
    s = str(text).strip()
    m = re.fullmatch(_DURATION + r"\s+p\.?\s*i\.?", s)
    if m:
        return SessionTime("pi", parse_duration(f"{m.group(1)} {m.group(2)}"))
    m = re.fullmatch(_DURATION + r"\s+after\s+([\w.-]+)", s)
    if m:
        return SessionTime("session", parse_duration(f"{m.group(1)} {m.group(2)}"), m.group(3))
    m = re.fullmatch(r"@([\w.-]+)\s*(?:([+-])\s*" + _DURATION + r")?\s+p\.?\s*i\.?", s)
    if m:
        offset = 0.0
        if m.group(2):
            offset = parse_duration(f"{m.group(3)} {m.group(4)}")
            offset = -offset if m.group(2) == "-" else offset
        return SessionTime("decision", offset, m.group(1))
    raise ValueError(
        f"cannot read the time {text!r}: use '<duration> p.i.', '<duration> after "
        "<session>' or '@<decision> [+/- <duration>] p.i.'"
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Group(_Strict):
    description: str = ""


class Subject(_Strict):
    """One animal; ``group`` may be left to a decision (``assign``)."""

    id: str
    group: str
    sex: Literal["F", "M"] | None = None
    weight_g: float | None = Field(None, gt=0, allow_inf_nan=False)
    tumor_model: str | None = None
    inoculated: date | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Administration(_Strict):
    """An agent given to ``groups`` (default: every subject) at study time ``at``."""

    agent: str
    dose: str
    route: str = "iv"
    at: str = "0 h"
    groups: list[str] | None = None
    sim: dict[str, Any] = Field(default_factory=dict)  #: agent model parameters (simulation)
    carrier: dict[str, Any] | None = None  #: liposome carrier (simulation): LiposomeParams

    @field_validator("carrier")
    @classmethod
    def _carrier(cls, v: dict | None) -> dict | None:
        if v is not None:
            from labctl.simulators.physics.liposome import LiposomeParams

            try:
                LiposomeParams(**v)
            except TypeError as exc:
                raise ValueError(f"unknown carrier parameter: {exc}") from None
        return v

    @field_validator("dose")
    @classmethod
    def _dose(cls, v: str) -> str:
        parse_dose(v)
        return v

    @field_validator("at")
    @classmethod
    def _at(cls, v: str) -> str:
        if parse_duration(v) < 0:
            raise ValueError("an administration cannot be before study time 0")
        return v


class Session(_Strict):
    """A protocol (file or inline ``steps``) for ``groups`` at time ``at``."""

    name: str
    at: str
    groups: list[str] | None = None
    protocol: str | None = None
    steps: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    window: str = "2 h"  #: how late the session may start before it is overdue

    @field_validator("at")
    @classmethod
    def _at(cls, v: str) -> str:
        parse_session_time(v)
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        if parse_duration(v) <= 0:
            raise ValueError("window must be > 0")
        return v


class Metric(_Strict):
    """An ROI statistic of a fluorescence image stored by a session's run.

    ``statistic``: ``specific`` (tumor ROI mean minus normal-tissue mean, counts: the
    camera offset cancels) or ``tnr`` (tumor ROI mean / normal-tissue mean), over the
    ROI and background masks the plan stored with the image."""

    statistic: Literal["specific", "tnr"] = "specific"
    plan: str = "fluorescence_timecourse"


class Decision(_Strict):
    """``peak_time``: the time post injection of the largest group-mean metric over
    ``sessions`` of ``group``; ``thresholds``: subjects of ``group`` into ``assign``
    by the metric of ``sessions[0]`` (``cuts`` ascending); ``stratified``: subjects
    randomised to ``assign`` arms within strata cut at ``cuts``."""

    name: str
    kind: Literal["peak_time", "thresholds", "stratified"]
    group: str
    sessions: list[str] = Field(..., min_length=1)
    metric: Metric = Field(default_factory=Metric)
    cuts: list[float] = Field(default_factory=list)
    assign: list[str] = Field(default_factory=list)
    seed: int = 0

    @field_validator("cuts")
    @classmethod
    def _cuts(cls, v: list[float]) -> list[float]:
        if any(not math.isfinite(c) for c in v) or v != sorted(set(v)):
            raise ValueError("cuts must be finite and strictly increasing")
        return v


class Variability(_Strict):
    """Between-animal variability of the simulated subjects: coefficients of variation
    (log-normal) of the agent transfer constant, plasma half-life, tumor perfusion and
    tumor diameter; probe placement as a standard deviation in mm."""

    k_trans_cv: float = Field(0.2, ge=0, le=1, allow_inf_nan=False)
    plasma_half_life_cv: float = Field(0.1, ge=0, le=1, allow_inf_nan=False)
    perfusion_cv: float = Field(0.2, ge=0, le=1, allow_inf_nan=False)
    tumor_diameter_cv: float = Field(0.1, ge=0, le=1, allow_inf_nan=False)
    tumor_doubling_d: float = Field(3.0, gt=0, allow_inf_nan=False)


class Study(_Strict):
    study: str = Field(..., pattern=r"^[\w.-]+$")
    description: str = ""
    bench: str | None = None
    data_dir: str | None = None
    start: datetime | None = None
    seed: int = 0
    variability: Variability = Field(default_factory=Variability)
    groups: dict[str, Group] = Field(..., min_length=1)
    subjects: list[Subject] = Field(..., min_length=1)
    administrations: list[Administration] = Field(default_factory=list)
    sessions: list[Session] = Field(..., min_length=1)
    decisions: list[Decision] = Field(default_factory=list)


@dataclass
class StudyFile:
    """A validated study with its source document (for line numbers) and paths."""

    study: Study
    doc: YamlDoc
    path: Path

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.path.parent / p

    @property
    def data_dir(self) -> Path:
        """Where the study's runs and state go (default: ``data/<study>`` beside the file)."""
        if self.study.data_dir:
            return self.resolve(self.study.data_dir)
        return self.path.parent / "data" / self.study.study

    def subject(self, subject_id: str) -> Subject:
        for s in self.study.subjects:
            if s.id == subject_id:
                return s
        raise ConfigError(f"{self.path}: no subject {subject_id!r}")

    def session(self, name: str) -> Session:
        for s in self.study.sessions:
            if s.name == name:
                return s
        raise ConfigError(f"{self.path}: no session {name!r}")


def load_study(path: str | Path) -> StudyFile:
    """Read and validate a study file; errors name the file, line and key."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.source}: a study file must be a mapping of keys")
    try:
        study = Study.model_validate(doc.data)
    except ValidationError as exc:
        raise format_validation_error(exc, doc, "study file") from None
    sf = StudyFile(study, doc, Path(path))
    _check_references(sf)
    return sf


def _unique(doc: YamlDoc, items: list, key: str, what: str) -> set[str]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = getattr(item, "id", None) or item.name
        if name in seen:
            raise ConfigError(f"{doc.where((key, i))}: {what} {name!r} appears twice")
        seen.add(name)
    return seen


def _check_references(sf: StudyFile) -> None:
    """Groups, sessions, decisions and protocol files named anywhere must exist."""
    s, doc = sf.study, sf.doc
    groups = set(s.groups)
    sessions = _unique(doc, s.sessions, "sessions", "session")
    _unique(doc, s.subjects, "subjects", "subject")
    decisions = _unique(doc, s.decisions, "decisions", "decision")

    def check_groups(names, path):
        for j, g in enumerate(names or []):
            if g not in groups:
                raise ConfigError(
                    f"{doc.where((*path, j))}: unknown group {g!r} (groups: {', '.join(groups)})"
                )

    for i, subj in enumerate(s.subjects):
        if subj.group not in groups:
            raise ConfigError(
                f"{doc.where(('subjects', i, 'group'))}: unknown group {subj.group!r} "
                f"(groups: {', '.join(groups)})"
            )
    for i, adm in enumerate(s.administrations):
        check_groups(adm.groups, ("administrations", i, "groups"))
    for i, d in enumerate(s.decisions):
        check_groups([d.group], ("decisions", i, "group"))
        check_groups(d.assign, ("decisions", i, "assign"))
        for j, name in enumerate(d.sessions):
            if name not in sessions:
                raise ConfigError(
                    f"{doc.where(('decisions', i, 'sessions', j))}: unknown session {name!r}"
                )
        _check_decision_shape(doc, i, d)
    for i, sess in enumerate(s.sessions):
        _check_session(sf, i, sess, sessions, decisions, check_groups)


def _check_decision_shape(doc: YamlDoc, i: int, d: Decision) -> None:
    if d.kind == "thresholds" and len(d.assign) != len(d.cuts) + 1:
        raise ConfigError(
            f"{doc.where(('decisions', i, 'assign'))}: {len(d.cuts)} cut(s) make "
            f"{len(d.cuts) + 1} groups, but {len(d.assign)} are named"
        )
    if d.kind == "stratified" and len(d.assign) < 2:
        raise ConfigError(f"{doc.where(('decisions', i, 'assign'))}: name at least two arms")


def _check_session(sf: StudyFile, i: int, sess: Session, sessions, decisions, check_groups):
    doc = sf.doc
    check_groups(sess.groups, ("sessions", i, "groups"))
    if (sess.protocol is None) == (sess.steps is None):
        raise ConfigError(
            f"{doc.where(('sessions', i))}: a session needs either 'protocol' or 'steps'"
        )
    if sess.protocol is not None and not sf.resolve(sess.protocol).is_file():
        raise ConfigError(
            f"{doc.where(('sessions', i, 'protocol'))}: protocol file "
            f"{str(sf.resolve(sess.protocol))!r} not found"
        )
    if sess.steps is not None:
        _check_inline_steps(doc, i, sess)
    t = parse_session_time(sess.at)
    where = doc.where(("sessions", i, "at"))
    if t.anchor == "session" and (t.ref not in sessions or t.ref == sess.name):
        raise ConfigError(f"{where}: unknown session {t.ref!r}")
    if t.anchor == "decision" and t.ref not in decisions:
        raise ConfigError(f"{where}: unknown decision {t.ref!r}")
    if t.anchor == "pi" and t.offset_s < 0:
        raise ConfigError(f"{where}: the session is scheduled before its administration")
    if t.anchor == "pi" and not sf.study.administrations:
        raise ConfigError(f"{where}: 'p.i.' but the study has no administrations")


def _check_inline_steps(doc: YamlDoc, i: int, sess: Session) -> None:
    """Inline steps are checked like a protocol file's (plans, arguments, types)."""
    import yaml

    from labctl.protocol.runner import load_protocol

    text = yaml.safe_dump({"protocol": sess.name, "steps": sess.steps})
    try:
        load_protocol(text=text, source="steps")
    except ConfigError as exc:
        detail = str(exc).replace("steps, ", "").replace("invalid protocol file:\n  ", "")
        raise ConfigError(f"{doc.where(('sessions', i, 'steps'))}: {detail}") from None
