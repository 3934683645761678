"""Low-level column I/O: array metadata written by the writer is zarr's own."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.core.buffer import default_buffer_prototype

from labctl.data._store import (
    _PADDED,
    FAST_PATH,
    TESTED_ZARR,
    ColumnArray,
    create_columns,
    finalize_columns,
    run_sync,
    unpad_metadata,
    write_columns,
)

# labctl's own chunk and metadata writes (the other tests hold for either path)
fast_path_only = pytest.mark.skipif(
    not FAST_PATH, reason="the hand-written I/O is used with zarr {}.{}.x only".format(*TESTED_ZARR)
)


@fast_path_only
@pytest.mark.parametrize(
    ("row_shape", "dtype", "fill"),
    [((), "float64", np.nan), ((3, 2), "uint16", 0), ((), "int64", 0), ((), "bool", False)],
)
def test_metadata_bytes_match_zarrs_serialisation(tmp_path, row_shape, dtype, fill):
    group = zarr.api.asynchronous.open_group(store=str(tmp_path), mode="w", zarr_format=3)
    root = run_sync(group)
    col = ColumnArray(
        "",
        "x",
        row_shape,
        dtype,
        fill=fill,
        chunk_rows=8,
        dims=("time", *(f"x_dim_{i + 1}" for i in range(len(row_shape)))),
        attrs={"units": "C", "nan": np.nan},
    )
    run_sync(create_columns(root, [col]))
    proto = default_buffer_prototype()
    for n in (0, 7, 12345, 10**12):
        expected = col.arr.metadata.update_shape((n, *row_shape)).to_buffer_dict(proto)
        assert col.metadata_bytes(n) == expected["zarr.json"].to_bytes()


def test_flushed_rows_read_back_through_plain_zarr(tmp_path):
    root = run_sync(zarr.api.asynchronous.open_group(store=str(tmp_path), mode="w"))
    col = ColumnArray("", "t", (), "float64", fill=np.nan, chunk_rows=4, attrs={"units": "s"})
    run_sync(create_columns(root, [col]))
    values = np.arange(11, dtype=float) * 0.5
    write_columns(tmp_path, [(col, values[:6], 6)])
    assert zarr.open_array(str(tmp_path / "t"), mode="r").shape == (6,)
    write_columns(tmp_path, [(col, values[6:], 11)])
    arr = zarr.open_array(str(tmp_path / "t"), mode="r")
    np.testing.assert_array_equal(arr[:], values)
    assert arr.attrs["units"] == "s"


def _column(root_path, name, dtype, chunk_rows, compressors=None, row_shape=()):
    root = run_sync(zarr.api.asynchronous.open_group(store=str(root_path), mode="a"))
    dims = ("time", *(f"{name}_dim_{i + 1}" for i in range(len(row_shape))))
    col = ColumnArray(
        "",
        name,
        row_shape,
        dtype,
        fill=0,
        chunk_rows=chunk_rows,
        dims=dims,
        compressors=compressors,
    )
    run_sync(create_columns(root, [col]))
    return col


@fast_path_only
def test_raw_column_flushes_patch_the_chunk_file_in_place(tmp_path):
    col = _column(tmp_path, "seq", "int64", chunk_rows=8)
    assert col.in_place
    chunk0 = tmp_path / "seq" / "c" / "0"
    write_columns(tmp_path, [(col, np.arange(3), 3)])
    inode, before = chunk0.stat().st_ino, chunk0.read_bytes()
    assert len(before) == 8 * 8  # created once, full size
    write_columns(tmp_path, [(col, np.arange(3, 5), 5)])
    after = chunk0.read_bytes()
    assert chunk0.stat().st_ino == inode  # same file: patched, not replaced
    assert after[: 3 * 8] == before[: 3 * 8]  # rows the metadata covered are untouched
    write_columns(tmp_path, [(col, np.arange(5, 19), 19)])  # completes chunk 0, fills 1
    arr = zarr.open_array(str(tmp_path / "seq"), mode="r")
    assert arr.shape == (19,)
    np.testing.assert_array_equal(arr[:], np.arange(19))
    assert (tmp_path / "seq" / "c" / "2").exists() and col.file_chunk == 2


def test_big_endian_arrays_and_vectors_are_stored_little_endian(tmp_path):
    col = _column(tmp_path, "v", "float32", chunk_rows=4, row_shape=(3,))
    rows = np.arange(18, dtype=">f4").reshape(6, 3)
    write_columns(tmp_path, [(col, rows[:2], 2)])
    write_columns(tmp_path, [(col, rows[2:], 6)])
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "v"), mode="r")[:], rows)


def test_compressed_columns_are_rewritten_whole(tmp_path):
    from zarr.codecs import BloscCodec

    col = _column(tmp_path, "c", "float64", chunk_rows=8, compressors=(BloscCodec(),))
    assert not col.in_place
    write_columns(tmp_path, [(col, np.arange(3.0), 3)])
    write_columns(tmp_path, [(col, np.arange(3.0, 10.0), 10)])
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "c"), mode="r")[:], np.arange(10.0)
    )


@fast_path_only
def test_row_counts_are_updated_in_place_then_finalized_to_zarrs_form(tmp_path):
    col = _column(tmp_path, "x", "float64", chunk_rows=4)
    meta = tmp_path / "x" / "zarr.json"
    write_columns(tmp_path, [(col, np.arange(3.0), 3)])
    inode = meta.stat().st_ino
    for n in (5, 99, 12345):
        write_columns(tmp_path, [(col, np.arange(float(col.n), float(n)), n)])
        assert meta.stat().st_ino == inode  # the row count field, overwritten in place
        assert zarr.open_array(str(tmp_path / "x"), mode="r").shape == (n,)
    assert _PADDED.search(meta.read_bytes())
    finalize_columns(tmp_path, [col])
    proto = default_buffer_prototype()
    exact = col.arr.metadata.update_shape((12345,)).to_buffer_dict(proto)["zarr.json"]
    assert meta.read_bytes() == exact.to_bytes()


@fast_path_only
def test_unpad_metadata_restores_zarrs_form_after_a_crash(tmp_path):
    col = _column(tmp_path, "x", "int32", chunk_rows=4)
    write_columns(tmp_path, [(col, np.arange(6), 6)])  # then the process "dies"
    assert unpad_metadata(tmp_path) == 1
    assert not _PADDED.search((tmp_path / "x" / "zarr.json").read_bytes())
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "x"), mode="r")[:], np.arange(6))
    assert unpad_metadata(tmp_path) == 0
