"""Document serializers for the network: JSON or msgpack, never pickle.

bluesky's 0MQ ``Publisher``/``RemoteDispatcher`` default to ``pickle``, which runs code
chosen by whoever can send to the socket.  These serializers only build plain data:

- ``json``: UTF-8 JSON; numpy arrays become lists, NaN/Infinity are written as
  Python's ``json`` does (``NaN``), as bluesky's own JSON encoders do.
- ``msgpack``: msgpack maps; numpy arrays of numbers, booleans, fixed-width strings and
  dates travel as extension type 1 (``[dtype.str, shape, raw bytes]``) and come back as
  the same arrays; object arrays never (``msgpack-numpy`` unpickles those: not used).

Anything else that is not plain data (numpy scalars aside) is sent as ``str(obj)``,
as the run journal records it.

msgpack is called through its implementation module, not ``msgpack.unpackb``:
``msgpack_numpy.patch()`` (which bluesky-kafka runs on import) replaces the module's
functions with ones that unpickle object arrays found in any message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["SERIALIZERS", "serializer", "deserializer", "NUMPY_EXT"]

NUMPY_EXT = 1  #: msgpack extension type code of a numpy array
_SAFE_KINDS = frozenset("biufcUSmM")  # dtype kinds rebuilt from raw bytes, never objects


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    return str(obj)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return _plain(obj)


def json_dumps(doc: Any) -> bytes:
    return json.dumps(doc, default=_json_default, separators=(",", ":")).encode()


def json_loads(data: bytes) -> Any:
    return json.loads(data)


def _msgpack():
    """msgpack's packer and unpacker functions, immune to ``msgpack_numpy.patch()``."""
    try:
        from msgpack import _cmsgpack as impl
    except ImportError:  # pure-Python msgpack
        from msgpack import fallback as impl
    return impl


def _msgpack_default(obj: Any) -> Any:
    import msgpack

    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _SAFE_KINDS:
            return obj.tolist()
        arr = np.ascontiguousarray(obj)
        payload = (
            _msgpack()
            .Packer(use_bin_type=True)
            .pack([arr.dtype.str, list(arr.shape), arr.tobytes()])
        )
        return msgpack.ExtType(NUMPY_EXT, payload)
    return _plain(obj)


def _ext_hook(code: int, data: bytes) -> Any:
    import msgpack

    if code != NUMPY_EXT:
        return msgpack.ExtType(code, data)
    dtype_str, shape, raw = _msgpack().unpackb(data, raw=False)
    dtype = np.dtype(str(dtype_str))
    if dtype.kind not in _SAFE_KINDS:
        raise ValueError(f"refusing to decode a numpy array of dtype {dtype}")
    return np.frombuffer(raw, dtype=dtype).reshape([int(n) for n in shape]).copy()


def msgpack_dumps(doc: Any) -> bytes:
    return _msgpack().Packer(default=_msgpack_default, use_bin_type=True).pack(doc)


def msgpack_loads(data: bytes) -> Any:
    return _msgpack().unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)


#: name -> (serializer, deserializer)
SERIALIZERS: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    "json": (json_dumps, json_loads),
    "msgpack": (msgpack_dumps, msgpack_loads),
}


def _pick(name: str) -> tuple[Callable, Callable]:
    try:
        return SERIALIZERS[name]
    except KeyError:
        from labctl.core.errors import ConfigError

        raise ConfigError(
            f"unknown document serializer {name!r} "
            f"(choose {' or '.join(SERIALIZERS)}; pickle is never used)"
        ) from None


def serializer(name: str) -> Callable[[Any], bytes]:
    """The ``serializer=`` for bluesky's ``Publisher`` ("json" or "msgpack")."""
    return _pick(name)[0]


def deserializer(name: str) -> Callable[[bytes], Any]:
    """The ``deserializer=`` for bluesky's ``RemoteDispatcher`` ("json" or "msgpack")."""
    return _pick(name)[1]
