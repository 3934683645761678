"""Shards of raw (uncompressed) frames, written without a copy.

zarr's sharding codec (``sharding_indexed``) stores a shard as its encoded inner chunks
followed by an index of (offset, nbytes) pairs, uint64 little-endian, with a CRC32C
of the index appended (zarr v3 spec, sharding codec, default index codecs
``[bytes(little), crc32c]``, index at the end).  With raw little-endian inner chunks
that each hold whole frames, the inner chunks of a C-ordered block of frames are the
block's own bytes in order, so a shard is the block's memory plus a small index: this
writes it that way (zarr's generic encoder copies every inner chunk, ~5x slower).
Any other codec layout goes through zarr's encoder.
"""

from __future__ import annotations

import math
from typing import Any

import google_crc32c
import numpy as np
from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec

_EMPTY = np.uint64(2**64 - 1)  # offset/nbytes of an absent inner chunk


def raw_inner_rows(metadata: Any) -> int | None:
    """Rows per inner chunk if ``metadata`` has the raw-shard layout above, else None."""
    codecs = metadata.codecs
    if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
        return None
    sc = codecs[0]
    inner, index = sc.codecs, sc.index_codecs
    if len(inner) != 1 or not isinstance(inner[0], BytesCodec):
        return None
    if getattr(inner[0].endian, "value", inner[0].endian) not in (None, "little"):
        return None
    if [type(c) for c in index] != [BytesCodec, Crc32cCodec]:
        return None
    if getattr(sc.index_location, "value", sc.index_location) != "end":
        return None
    shard = metadata.chunk_grid.chunk_shape
    if tuple(sc.chunk_shape[1:]) != tuple(shard[1:]) or shard[0] % sc.chunk_shape[0]:
        return None
    return int(sc.chunk_shape[0])


def encode_raw_shard(block: np.ndarray, valid_rows: int, inner_rows: int) -> list[Any]:
    """Buffers of one shard holding the first ``valid_rows`` rows of ``block``.

    Inner chunks past ``valid_rows`` are left out (absent: read as the fill value).
    """
    n_inner = block.shape[0] // inner_rows
    used = min(n_inner, math.ceil(valid_rows / inner_rows))
    data = np.ascontiguousarray(block[: used * inner_rows], dtype=block.dtype.newbyteorder("<"))
    inner_bytes = data.nbytes // used if used else 0
    index = np.full((n_inner, 2), _EMPTY, dtype="<u8")
    index[:used, 0] = np.arange(used, dtype=np.uint64) * np.uint64(inner_bytes)
    index[:used, 1] = inner_bytes
    raw = index.tobytes()
    crc = np.array([google_crc32c.value(raw)], dtype="<u4").tobytes()
    return [memoryview(data).cast("B"), raw + crc]
