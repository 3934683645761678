"""The write-ahead journal: exact JSON of every document, one line each."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from labctl.core.errors import DataError
from labctl.data.journal import Journal, encode, read_journal


def test_nan_infinities_and_none_stay_distinct():
    doc = {"data": {"a": math.nan, "b": None, "c": math.inf, "d": -math.inf, "e": 1.5}}
    back = json.loads(encode(doc))
    assert math.isnan(back["data"]["a"]) and back["data"]["b"] is None
    assert back["data"]["c"] == math.inf and back["data"]["d"] == -math.inf
    assert back["data"]["e"] == 1.5


def test_numpy_values_big_integers_sets_and_odd_keys():
    doc = {
        "f32": np.float32(0.1),
        "i64": np.int64(-7),
        "arr": np.arange(6, dtype=np.uint16).reshape(2, 3),
        "nan_arr": np.array([1.0, np.nan]),
        "strided": np.arange(10.0)[::3],
        "big": 2**70,
        "tags": {"b", "a"},
        1: "non-string key",
        "text": "contains null and \u00b0C",
    }
    back = json.loads(encode(doc))
    assert back["f32"] == pytest.approx(0.1) and back["i64"] == -7
    assert back["arr"] == [[0, 1, 2], [3, 4, 5]]
    assert back["nan_arr"][0] == 1.0 and math.isnan(back["nan_arr"][1])
    assert back["strided"] == [0.0, 3.0, 6.0, 9.0]
    assert back["big"] == 2**70 and back["tags"] == ["a", "b"]
    assert back["1"] == "non-string key" and back["text"] == "contains null and \u00b0C"


def test_floats_round_trip_exactly():
    rng = np.random.default_rng(3)
    values = [float(v) for v in rng.normal(size=200) * 10.0 ** rng.integers(-300, 300, 200)]
    assert json.loads(encode({"v": values}))["v"] == values


def test_lines_are_on_disk_as_written_and_read_back(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    docs = [("start", {"uid": "u1", "time": 1.0}), ("event", {"data": {"x": math.nan}})]
    for name, doc in docs:
        journal.write(name, doc)
        assert path.read_bytes().endswith(b"}\n")  # handed to the OS before returning
    journal.close()
    back = list(read_journal(path, strict=True))
    assert [n for n, _ in back] == ["start", "event"]
    assert back[0][1] == docs[0][1] and math.isnan(back[1][1]["data"]["x"])
    with pytest.raises(DataError, match="closed"):
        journal.write("stop", {})
