"""What a study has done, kept in ``<data_dir>/study/``: the ledger of sessions, the
group assignments, the decisions, the simulated subjects and the run lock.

Every file is written atomically (temporary file, then rename), so a crash leaves the
previous version and never a half-written one.  Run stores go to ``<data_dir>`` itself.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from labctl.core.errors import ConfigError

__all__ = ["StudyRecords", "StudyLock"]


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path, default):
    return json.loads(path.read_text()) if path.exists() else default


class StudyRecords:
    """The study directory's bookkeeping (``root``: the study's data directory)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "study"

    # -- ledger: subject -> session -> record ------------------------------------------
    @property
    def ledger_path(self) -> Path:
        return self.dir / "ledger.json"

    def ledger(self) -> dict:
        return _read_json(self.ledger_path, {})

    def session_record(self, subject: str, session: str) -> dict | None:
        return self.ledger().get(subject, {}).get(session)

    def record_session(self, subject: str, session: str, record: dict) -> None:
        ledger = self.ledger()
        ledger.setdefault(subject, {})[session] = record
        _write_json(self.ledger_path, ledger)

    # -- group assignments -------------------------------------------------------------
    def groups(self) -> dict:
        return _read_json(self.dir / "groups.json", {})

    def assign(self, assignments: dict) -> None:
        _write_json(self.dir / "groups.json", {**self.groups(), **assignments})

    # -- decisions ---------------------------------------------------------------------
    def decision(self, name: str) -> dict | None:
        return _read_json(self.dir / "decisions" / f"{name}.json", None)

    def decisions(self) -> dict:
        d = self.dir / "decisions"
        return {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))}

    def record_decision(self, name: str, record: dict) -> None:
        _write_json(self.dir / "decisions" / f"{name}.json", record)

    # -- simulated subjects --------------------------------------------------------------
    def subject_path(self, subject: str) -> Path:
        return self.dir / "subjects" / f"{subject}.json"

    def lock(self, study: str) -> StudyLock:
        return StudyLock(self.dir / "run.lock", study)


class StudyLock:
    """A lock file against a second ``study run`` on the same study.

    Created with ``O_EXCL``; holds the host and process id.  A lock left by a process of
    this host that no longer exists is stale and taken over.
    """

    def __init__(self, path: Path, study: str) -> None:
        self.path = path
        self.study = study
        self._held = False

    def _stale(self) -> bool:
        try:
            info = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return False
        if info.get("host") != socket.gethostname():
            return False
        try:
            os.kill(int(info["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError):
            return False
        return False

    def acquire(self) -> StudyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._stale():
                    self.path.unlink(missing_ok=True)
                    continue
                info = self.path.read_text() if self.path.exists() else ""
                raise ConfigError(
                    f"study {self.study!r} is being run by another process ({info.strip()}); "
                    f"wait for it, or remove {self.path} if that process is gone"
                ) from None
            with os.fdopen(fd, "w") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
            self._held = True
            return self
        raise ConfigError(f"study {self.study!r}: cannot take the lock {self.path}")

    def release(self) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

    def __enter__(self) -> StudyLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
