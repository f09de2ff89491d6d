"""Tensor data of the protocol, checked against tritonclient's own serialisation."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from service.errors import BadRequest
from service.oip.tensors import (
    BytesTensor,
    NumericTensor,
    from_binary,
    from_json,
    join_bytes,
    split_bytes,
    to_binary,
    to_json,
)


def test_bytes_elements_match_tritonclient_both_ways() -> None:
    items = [b"", b"a", b"\x00\xff" * 300, "é".encode()]
    ours = join_bytes(items)
    theirs = serialize_byte_tensor(np.array(items, dtype=np.object_)).item()
    assert ours == theirs
    assert list(split_bytes(theirs)) == items
    assert [bytes(x) for x in deserialize_bytes_tensor(ours)] == items


@pytest.mark.parametrize(
    "raw",
    [b"\x05\x00\x00", b"\x05\x00\x00\x00abc", b"\x01\x00\x00\x00a\x02"],
    ids=["short-prefix", "element-past-end", "trailing-partial-prefix"],
)
def test_truncated_bytes_data_is_refused(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        split_bytes(raw, "clip")


def test_binary_numeric_round_trip_is_a_read_only_view() -> None:
    video = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = video.tobytes()
    tensor = from_binary("video", "UINT8", (2, 3, 4), raw)
    assert isinstance(tensor, NumericTensor)
    assert np.array_equal(tensor.array, video) and not tensor.array.flags.writeable
    assert to_binary(tensor) == raw
    fp = from_binary("x", "FP32", (2,), np.array([1.5, -2.0], dtype="<f4").tobytes())
    assert isinstance(fp, NumericTensor) and fp.array.tolist() == [1.5, -2.0]


def test_binary_size_must_match_the_shape() -> None:
    with pytest.raises(BadRequest, match="expected 24"):
        from_binary("video", "UINT8", (2, 3, 4), bytes(23))
    with pytest.raises(BadRequest, match="2 BYTES elements for shape \\[3\\]"):
        from_binary("clip", "BYTES", (3,), join_bytes([b"a", b"b"]))


def test_json_numbers_flat_or_nested() -> None:
    flat = from_json("x", "INT16", (2, 2), [1, -2, 3, 4])
    nested = from_json("x", "INT16", (2, 2), [[1, -2], [3, 4]])
    assert isinstance(flat, NumericTensor) and isinstance(nested, NumericTensor)
    assert flat.array.dtype == np.int16 and np.array_equal(flat.array, nested.array)
    assert to_json(flat) == [1, -2, 3, 4]
    floats = from_json("x", "FP32", (3,), [1, 2.5, 3])
    assert isinstance(floats, NumericTensor) and floats.array.dtype == np.float32


@pytest.mark.parametrize(
    ("datatype", "data", "match"),
    [
        ("UINT8", [0, 256], "out of the UINT8 range"),
        ("UINT8", [-1, 0], "out of the UINT8 range"),
        ("UINT8", [0.5, 1], "not UINT8"),
        ("UINT8", ["a", "b"], "not UINT8"),
        ("BOOL", [0, 1], "not BOOL"),
        ("INT32", [[1, 2], [3]], "not a regular"),
        ("INT32", [1, 2, 3], "3 values for shape \\[2\\]"),
        ("BF16", [1, 2], "unsupported datatype"),
    ],
)
def test_bad_json_numbers_are_refused(datatype: str, data: object, match: str) -> None:
    with pytest.raises(BadRequest, match=match):
        from_json("x", datatype, (2,), data)


def test_json_bytes_are_utf8_strings() -> None:
    tensor = from_json("clip", "BYTES", (2, 1), [["ab"], ["é"]])
    assert isinstance(tensor, BytesTensor) and tensor.items == (b"ab", "é".encode())
    assert to_json(tensor) == ["ab", "é"]
    with pytest.raises(BadRequest, match="list of strings"):
        from_json("clip", "BYTES", (1,), [3])
    with pytest.raises(BadRequest, match="list of strings"):
        from_json("clip", "BYTES", (1,), [[["deeper than the shape"]]])
