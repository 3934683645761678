"""Network serializers: numpy-exact msgpack, JSON, and no pickle anywhere."""

import contextlib
import math
import pickle

import numpy as np
import pytest

from labctl.core.errors import ConfigError
from labctl.remote.serialization import (
    NUMPY_EXT,
    deserializer,
    json_dumps,
    json_loads,
    msgpack_dumps,
    msgpack_loads,
    serializer,
)

msgpack = pytest.importorskip("msgpack")


def _event():
    return {
        "uid": "e1",
        "seq_num": 3,
        "time": 1.5e9,
        "filled": {},
        "data": {
            "T": np.float64(37.25),
            "n": np.int64(7),
            "ok": np.bool_(True),
            "frame": np.arange(12, dtype="<u2").reshape(3, 4),
            "spectrum": np.linspace(0, 1, 5, dtype=np.float32),
            "label": "ok",
            "nan": math.nan,
        },
        "timestamps": {"T": 1.5e9},
    }


def test_msgpack_round_trips_numpy_arrays_exactly():
    back = msgpack_loads(msgpack_dumps(_event()))
    frame, spectrum = back["data"]["frame"], back["data"]["spectrum"]
    assert frame.dtype == np.dtype("<u2") and frame.shape == (3, 4)
    np.testing.assert_array_equal(frame, np.arange(12).reshape(3, 4))
    assert spectrum.dtype == np.float32
    assert back["data"]["T"] == 37.25 and type(back["data"]["n"]) is int
    assert back["data"]["ok"] is True and math.isnan(back["data"]["nan"])
    frame[0, 0] = 9  # a writable copy, not a view of the message
    assert back["seq_num"] == 3 and back["data"]["label"] == "ok"


def test_json_round_trip_gives_lists_and_keeps_nan():
    back = json_loads(json_dumps(_event()))
    assert back["data"]["frame"] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert math.isnan(back["data"]["nan"]) and back["data"]["T"] == 37.25


def test_object_arrays_travel_as_lists_never_pickled():
    arr = np.array(["a", None, 3], dtype=object)
    assert msgpack_loads(msgpack_dumps({"x": arr}))["x"] == ["a", None, 3]


def test_an_object_dtype_extension_is_refused():
    payload = msgpack.packb(["|O", [1], pickle.dumps("x")], use_bin_type=True)
    crafted = msgpack.packb({"x": msgpack.ExtType(NUMPY_EXT, payload)}, use_bin_type=True)
    with pytest.raises(ValueError, match="refusing"):
        msgpack_loads(crafted)


class _Boom:
    ran = False

    def __reduce__(self):
        return (_Boom._run, ())

    @staticmethod
    def _run():
        _Boom.ran = True


@pytest.mark.parametrize("name", ["json", "msgpack"])
def test_a_pickle_payload_is_never_executed(name):
    payload = pickle.dumps(_Boom())
    errors = (
        ValueError,
        TypeError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
        UnicodeDecodeError,
    )
    with contextlib.suppress(*errors):
        deserializer(name)(payload)
    assert not _Boom.ran


def test_pickle_is_not_a_choice():
    assert serializer("json") is json_dumps and deserializer("msgpack") is msgpack_loads
    with pytest.raises(ConfigError, match="pickle is never used"):
        serializer("pickle")


def test_msgpack_numpy_patching_msgpack_does_not_reach_our_decoder(monkeypatch):
    """bluesky-kafka runs msgpack_numpy.patch(), whose decoder unpickles object arrays."""
    mpn = pytest.importorskip("msgpack_numpy")
    for name in (
        "Packer",
        "Unpacker",
        "load",
        "loads",
        "dump",
        "dumps",
        "pack",
        "packb",
        "unpack",
        "unpackb",
    ):
        monkeypatch.setattr(msgpack, name, getattr(msgpack, name))
    mpn.patch()
    crafted = msgpack.packb(
        {
            "x": {
                b"nd": True,
                b"kind": b"O",
                b"type": "|O",
                b"shape": [1],
                b"data": pickle.dumps(_Boom()),
            }
        }
    )
    back = msgpack_loads(crafted)
    assert not _Boom.ran and isinstance(back["x"], dict)
    assert msgpack_loads(msgpack_dumps({"a": np.arange(3)}))["a"].tolist() == [0, 1, 2]
