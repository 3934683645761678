"""The ``labctl study`` subcommands (run, status), ``labctl export`` and ``--md key=value``."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import yaml

from labctl.core.errors import ConfigError

__all__ = ["add_study_parser", "add_export_parser", "parse_md"]


def parse_md(items: list[str] | None) -> dict:
    """``["operator=jd", "dose_mg_kg=5"]`` -> ``{"operator": "jd", "dose_mg_kg": 5}``;
    values are read as YAML scalars, non-finite numbers are refused."""
    out: dict = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"--md {item!r}: give key=value (a key is a plain name)")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if isinstance(value, dict | list):
            value = text
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"--md {item!r}: {key} must be a finite number")
        out[key] = value
    return out


def _cmd_study_run(args) -> int:
    from labctl.study.runner import run_study

    out = run_study(
        args.study,
        sim=args.sim,
        next_session=args.next,
        session=args.session,
        subject=args.subject,
        quiet=args.quiet,
    )
    for subject, session, status in out.ran:
        print(f"  {subject:<8} {session:<20} {status}")
    for d in out.decisions:
        print(f"decision {d['decision']} ({d['rule']}): {d['status']} {d['outcome']}")
    for subject, reason in out.blocked.items():
        print(f"labctl: subject {subject} blocked: {reason}", file=sys.stderr)
    return 0 if out.ok else 3


def _cmd_study_status(args) -> int:
    from labctl.study.status import format_status

    print("\n".join(format_status(args.study)))
    return 0


def _cmd_study_release(args) -> int:
    from labctl.config.study_file import load_study
    from labctl.study.records import StudyRecords
    from labctl.study.release import format_release, release_table

    sf = load_study(args.study)
    table = release_table(sf, StudyRecords(sf.data_dir), args.before, args.after)
    print("\n".join(format_release(table)))
    return 0


def add_study_parser(sub) -> None:
    """Register ``labctl study run|status|release`` on the top-level subparsers."""
    study = sub.add_parser(
        "study",
        help="studies: subjects, administrations, sessions over days",
        description="Run and follow a study file (see docs/study-file.md).",
    )
    ssub = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND")
    ssub.required = True
    run = ssub.add_parser(
        "run",
        help="run a study's sessions",
        description="--sim: the whole study on the simulated twin, subject after subject "
        "(each subject a simulated animal whose state persists between sessions).  On "
        "hardware: --next (the earliest due session) or --session NAME --subject ID.  "
        "A second 'study run' of the same study is refused while one runs.",
    )
    run.add_argument("study", help="study file (YAML)")
    run.add_argument("--sim", action="store_true", help="the whole study on the simulated twin")
    run.add_argument("--next", action="store_true", help="the earliest due session (hardware)")
    run.add_argument("--session", help="this session ...")
    run.add_argument("--subject", help="... of this subject")
    run.add_argument("--quiet", action="store_true", help="only the summary")
    run.set_defaults(func=_cmd_study_run)
    status = ssub.add_parser(
        "status",
        help="the timeline per subject: done, due, overdue, waiting sessions",
        description="Print each subject's sessions with their times (study time and "
        "time post injection; clock times when the study has a 'start'), and the "
        "decisions made.",
    )
    status.add_argument("study", help="study file (YAML)")
    status.set_defaults(func=_cmd_study_status)
    release = ssub.add_parser(
        "release",
        help="released fraction of a liposomal cargo per subject and group",
        description="From the specific tumor fluorescence of two sessions' stored images "
        "(dequenching of a self-quenched cargo, the quench from the administration's "
        "carrier): the released fraction per subject, and mean +/- SD per group.",
    )
    release.add_argument("study", help="study file (YAML)")
    release.add_argument("--before", required=True, metavar="SESSION")
    release.add_argument("--after", required=True, metavar="SESSION")
    release.set_defaults(func=_cmd_study_release)


def _data_dirs(args) -> list[Path]:
    from labctl.data.locations import known_data_dirs

    if args.data_dir:
        return [Path(args.data_dir)]
    return [Path("data"), *known_data_dirs()]


def _cmd_export(args) -> int:
    from labctl.data.export import export_run, export_study

    if (args.run is None) == (args.study is None):
        raise ConfigError("export a RUN or a --study, not both or neither")
    if args.study:
        from labctl.study.status import study_runs

        runs = study_runs(args.study, _data_dirs(args))
        if not runs:
            raise ConfigError(f"study {args.study}: no runs to export")
        index = export_study(runs, args.format, args.output)
        print(f"{len(runs)} run(s) exported to {args.output} (index: {index})")
        return 0
    from labctl.report.summary import find_run

    out = export_run(find_run(args.run, _data_dirs(args)), args.format, args.output)
    print(f"exported to {out}")
    return 0


def add_export_parser(sub) -> None:
    """Register ``labctl export``."""
    p = sub.add_parser(
        "export",
        help="export a run or a study's runs to CSV, Excel or NetCDF",
        description="CSV and Excel: the primary stream, one column per signal with its "
        "unit in the header, time in s since the run start and since the injection. "
        "NetCDF: every stream, arrays and images included.  With --study, -o is a "
        "directory: one file per run and index.csv.",
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="run store path, or uid (prefix)")
    p.add_argument("--study", help="every run of this study (study id or file)")
    p.add_argument("--format", required=True, choices=("csv", "xlsx", "nc"))
    p.add_argument("-o", "--output", required=True, metavar="PATH")
    p.add_argument("--data-dir", help="where to look for a uid (default: ./data and the catalog)")
    p.set_defaults(func=_cmd_export)
