"""``journal.jsonl``: the write-ahead record of a run, one document per line.

Each line is ``{"name": <document name>, "doc": <document>}``, appended and flushed to
the operating system as the document arrives, before its data is buffered for the
zarr arrays.  A killed process therefore loses no journal line (the OS still holds
them); a power cut can lose what the OS had not yet written to disk.

"By reference": in ``event`` and ``event_page`` documents, the value of a data key
whose array holds one array per event (non-scalar shape) is replaced by
``{"ref": "<group>/<array>", "row": <row>}`` (a list of these in an event page): the
zarr array and the row along its first axis where the writer puts that value.
Scalars, strings and booleans are written inline, and so is any value that does not
fit its array (wrong shape), so nothing the RunEngine emitted is silently dropped.
Recovery (``labctl.data.recover``) rebuilds missing rows from inline values; a
referenced value is only as safe as the flushed zarr array that holds it.

Lines are plain JSON except that NaN and infinities are written as ``NaN``/``Infinity``
(what Python's ``json`` reads back), as in bluesky's own JSON serializers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

try:
    from json.encoder import c_make_encoder, encode_basestring_ascii
except ImportError:  # pragma: no cover - interpreters without the C accelerator
    c_make_encoder = None

from labctl.core.errors import DataError

__all__ = ["Journal", "read_journal", "is_ref", "JOURNAL_NAME"]

JOURNAL_NAME = "journal.jsonl"
log = logging.getLogger(__name__)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    return str(obj)


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_default)
# The C encoder made once: ``JSONEncoder.encode`` builds a new one per call (a third
# of the cost for an event).  No circular-reference check: documents are trees.
_C_ENCODER = (
    c_make_encoder(None, _default, encode_basestring_ascii, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)


_ORJSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _encode_std(doc: dict) -> str:
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(doc, 0))
    return _ENCODER.encode(doc)


def encode(doc: dict) -> bytes:
    """Compact JSON of a document (numpy values converted, NaN as ``NaN``).

    orjson encodes an event in ~1 us where ``json`` takes ~10 us (float formatting);
    it writes NaN and infinities as ``null``, so any output holding ``null`` (a None,
    a NaN, or just the word) is encoded again with ``json``, which keeps them apart.
    """
    try:
        out = orjson.dumps(doc, default=_default, option=_ORJSON_OPTS)
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits
        return _encode_std(doc).encode()
    if b"null" in out:
        return _encode_std(doc).encode()
    return out


def is_ref(value: Any) -> bool:
    """Whether a journal value is a reference to a zarr array row."""
    return isinstance(value, dict) and "ref" in value and "row" in value and len(value) == 2


class Journal:
    """Appends documents to ``journal.jsonl``, each line handed to the OS at once.

    One ``write`` system call per document on a file opened for appending (no Python
    buffer in between), so a killed process loses no line it returned from.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._heads: dict[str, bytes] = {}

    def write(self, name: str, doc: dict) -> None:
        """Append one document (``doc`` may hold numpy scalars; arrays become lists)."""
        if self._fd is None:
            raise DataError(f"{self.path}: journal is closed")
        head = self._heads.get(name)
        if head is None:
            head = self._heads[name] = b'{"name":' + json.dumps(name).encode() + b',"doc":'
        line = head + encode(doc) + b"}\n"
        written = os.write(self._fd, line)
        while written < len(line):  # a short write (signal, full disk): finish the line
            written += os.write(self._fd, line[written:])

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd is None


#: the documents a journal line may hold
DOCUMENT_NAMES = frozenset(
    {
        "start",
        "descriptor",
        "event",
        "event_page",
        "stop",
        "resource",
        "datum",
        "datum_page",
        "stream_resource",
        "stream_datum",
    }
)


def _parse_line(raw: bytes) -> tuple[str, dict]:
    """``(name, doc)`` of one journal line; ``ValueError`` saying why it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        rec = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("doc"), dict):
        raise ValueError("not a document (a {name, doc} mapping)")
    name = rec.get("name")
    if name not in DOCUMENT_NAMES:
        raise ValueError(f"unknown document name {name!r}")
    uid = rec["doc"].get("uid", "")
    if name.endswith("_page"):  # a page carries a list of uids, one per row
        if not (isinstance(uid, list) and all(isinstance(u, str) for u in uid)):
            raise ValueError("the page's uids are not a list of text")
    elif not isinstance(uid, str):
        raise ValueError("the document's uid is not text")
    return name, rec["doc"]


def read_journal(
    path: str | Path, *, strict: bool = False, skipped: list[str] | None = None
) -> Iterator[tuple[str, dict]]:
    """Yield ``(name, doc)`` from a journal, read line by line as bytes.

    A line that is not valid UTF-8, not valid JSON or not a document is skipped with a
    log message (``DataError`` instead when ``strict``) and described in ``skipped``
    (``"journal.jsonl:LINE: why"``); a torn last line (a crash during the write) too.
    """
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no journal") from exc
    with f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                name, doc = _parse_line(raw.rstrip(b"\r\n"))
            except ValueError as exc:
                where = f"{path.name}:{i}"
                torn = not raw.endswith(b"\n")
                why = "torn last line (the process died while writing it)" if torn else str(exc)
                if strict and not torn:
                    raise DataError(f"{path}:{i}: bad journal line: {exc}") from exc
                log.warning("%s: journal line skipped: %s", where, why)
                if skipped is not None:
                    skipped.append(f"{where}: {why}")
                continue
            yield name, doc
