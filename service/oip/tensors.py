"""Tensors of the Open Inference Protocol: datatypes, JSON `data`, and the binary tensor data extension.

A tensor is numeric (a numpy array of one of the protocol's datatypes) or BYTES (a row-major tuple of
byte strings). In JSON, numeric data is a flat or nested list of numbers and BYTES data a list of
strings; in binary, numeric data is the raw little-endian values and BYTES data is each element as a
4-byte little-endian length followed by its bytes. Every malformed tensor raises `BadRequest` (400).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from service.errors import BadRequest

BYTES = "BYTES"

#: The protocol's numeric datatypes (BF16 has no numpy dtype and is not accepted).
NUMPY_DTYPES: dict[str, np.dtype[np.generic]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
DATATYPES = (*NUMPY_DTYPES, BYTES)

# Which kinds of JSON numbers a datatype accepts (numpy kinds: b bool, i/u integer, f float).
_JSON_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True, kw_only=True)
class NumericTensor:
    name: str
    datatype: str  # a key of NUMPY_DTYPES
    array: NDArray[np.generic]  # already shaped

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.array.shape)


@dataclass(frozen=True, kw_only=True)
class BytesTensor:
    name: str
    shape: tuple[int, ...]
    items: tuple[bytes, ...]  # row-major, len == prod(shape)
    datatype: Literal["BYTES"] = "BYTES"

    def __post_init__(self) -> None:
        if len(self.items) != element_count(self.shape):
            raise ValueError(f"{len(self.items)} elements for shape {list(self.shape)}")


Tensor = NumericTensor | BytesTensor


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def numpy_dtype(datatype: str) -> np.dtype[np.generic]:
    dtype = NUMPY_DTYPES.get(datatype)
    if dtype is None:
        raise BadRequest(f"unsupported datatype {datatype!r}; supported: {', '.join(DATATYPES)}")
    return dtype


# --- BYTES elements ----------------------------------------------------------------------------------


def split_bytes(raw: bytes | memoryview, name: str = "tensor") -> tuple[bytes, ...]:
    """BYTES binary data → its elements (each a 4-byte little-endian length, then that many bytes)."""
    view = memoryview(raw)
    items: list[bytes] = []
    offset = 0
    while offset < len(view):
        if offset + _LENGTH.size > len(view):
            raise BadRequest(f"input {name!r}: BYTES data ends inside an element's length prefix")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += _LENGTH.size
        if offset + length > len(view):
            raise BadRequest(f"input {name!r}: BYTES element of {length} bytes runs past the data")
        items.append(bytes(view[offset : offset + length]))
        offset += length
    return tuple(items)


def join_bytes(items: Sequence[bytes]) -> bytes:
    """BYTES elements → binary data (the inverse of `split_bytes`)."""
    return b"".join(_LENGTH.pack(len(item)) + item for item in items)


# --- decoding tensors from a request -----------------------------------------------------------------


def from_binary(name: str, datatype: str, shape: tuple[int, ...], raw: bytes | memoryview) -> Tensor:
    """A tensor from its binary data (no copy for numeric data: the array views `raw`, read-only)."""
    count = element_count(shape)
    if datatype == BYTES:
        items = split_bytes(raw, name)
        if len(items) != count:
            raise BadRequest(f"input {name!r}: {len(items)} BYTES elements for shape {list(shape)}")
        return BytesTensor(name=name, shape=shape, items=items)
    dtype = numpy_dtype(datatype).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(
            f"input {name!r}: {len(raw)} bytes of binary data for {datatype} {list(shape)} "
            f"(expected {count * dtype.itemsize})"
        )
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return NumericTensor(name=name, datatype=datatype, array=array)


def _flatten_strings(data: object, depth: int, name: str) -> list[bytes]:
    if isinstance(data, str):
        return [data.encode("utf-8")]
    if not isinstance(data, list) or depth <= 0:
        raise BadRequest(f"input {name!r}: BYTES data must be a (nested) list of strings")
    out: list[bytes] = []
    for item in data:
        out.extend(_flatten_strings(item, depth - 1, name))
    return out


def _numeric_from_json(name: str, datatype: str, shape: tuple[int, ...], data: object) -> NumericTensor:
    dtype = numpy_dtype(datatype)
    count = element_count(shape)
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BadRequest(f"input {name!r}: data is not a regular (nested) list of numbers") from None
    if values.size != count:
        raise BadRequest(f"input {name!r}: {values.size} values for shape {list(shape)}")
    if count and values.dtype.kind not in _JSON_KINDS[dtype.kind]:
        raise BadRequest(f"input {name!r}: data holds {values.dtype.kind!r}-kind values, not {datatype}")
    if count and dtype.kind in "iu":
        info = np.iinfo(dtype.name)
        if values.min() < info.min or values.max() > info.max:
            raise BadRequest(f"input {name!r}: values out of the {datatype} range [{info.min}, {info.max}]")
    return NumericTensor(name=name, datatype=datatype, array=values.astype(dtype).reshape(shape))


def from_json(name: str, datatype: str, shape: tuple[int, ...], data: object) -> Tensor:
    """A tensor from the `data` of a JSON request input (flat or nested row-major)."""
    if datatype != BYTES:
        return _numeric_from_json(name, datatype, shape, data)
    items = _flatten_strings(data, len(shape) + 1, name) if isinstance(data, list) else None
    if items is None:
        raise BadRequest(f"input {name!r}: BYTES data must be a list of strings")
    if len(items) != element_count(shape):
        raise BadRequest(f"input {name!r}: {len(items)} BYTES elements for shape {list(shape)}")
    return BytesTensor(name=name, shape=shape, items=tuple(items))


# --- encoding tensors for a response -----------------------------------------------------------------


def to_binary(tensor: Tensor) -> bytes:
    if isinstance(tensor, BytesTensor):
        return join_bytes(tensor.items)
    dtype = NUMPY_DTYPES[tensor.datatype].newbyteorder("<")
    return np.ascontiguousarray(tensor.array, dtype=dtype).tobytes()


def to_json(tensor: Tensor) -> list[object]:
    """Flat row-major JSON data; BYTES elements as UTF-8 strings (undecodable bytes replaced)."""
    if isinstance(tensor, BytesTensor):
        return [item.decode("utf-8", errors="replace") for item in tensor.items]
    values: list[object] = tensor.array.reshape(-1).tolist()
    return values
