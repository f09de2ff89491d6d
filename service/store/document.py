"""A compact binary form for stored results: JSON fields plus raw numpy arrays, compressed with zlib.

Layout before compression::

    b"VTD1" | header length (u32, little-endian) | header (UTF-8 JSON) | each array's bytes, in header order

with header `{"fields": {...}, "arrays": [{"name", "dtype", "shape"}, ...]}`. Arrays are stored raw
(C order, little-endian), so a round trip is bit-exact: every replica renders the same heatmap PNG from
the same stored frames and maps. Only uint8, float32 and float64 arrays are accepted and nothing is
unpickled, so reading a stored value runs no code. JSON floats round-trip exactly (shortest repr).

Any kind of result (a prediction, a timeline) fits: its scalar facts go in `fields`, its tensors in
`arrays`; the kind's codec turns the pair into its own typed value and back.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAGIC = b"VTD1"
_LENGTH = struct.Struct("<I")
DTYPES: dict[str, np.dtype[Any]] = {
    "uint8": np.dtype(np.uint8),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}
MAX_HEADER_BYTES = 1 << 24
COMPRESSION_LEVEL = 1  # zlib level 1: ~2x smaller than level 0 on frames, a few ms per MB


@dataclass(frozen=True, kw_only=True)
class Document:
    fields: dict[str, Any]  # JSON values only
    arrays: dict[str, NDArray[Any]] = field(default_factory=dict)


def pack(document: Document, *, level: int = COMPRESSION_LEVEL) -> bytes:
    """The document as compressed bytes. Raises ValueError for a dtype outside `DTYPES`."""
    specs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array in document.arrays.items():
        dtype_name = _dtype_name(array)
        raw = np.ascontiguousarray(array, dtype=DTYPES[dtype_name])
        specs.append({"name": name, "dtype": dtype_name, "shape": list(raw.shape)})
        chunks.append(raw.tobytes())
    header = json.dumps({"fields": document.fields, "arrays": specs}, separators=(",", ":")).encode()
    body = b"".join([MAGIC, _LENGTH.pack(len(header)), header, *chunks])
    return zlib.compress(body, level)


def unpack(data: bytes) -> Document:
    """The document in `data`; ValueError when the bytes are not a well-formed document."""
    try:
        body = zlib.decompress(data)
    except zlib.error as exc:
        raise ValueError("not a stored document (zlib)") from exc
    if body[:4] != MAGIC or len(body) < 8:
        raise ValueError("not a stored document (magic)")
    (length,) = _LENGTH.unpack_from(body, 4)
    if length > MAX_HEADER_BYTES or 8 + length > len(body):
        raise ValueError("stored document header is truncated")
    header = json.loads(body[8 : 8 + length])
    offset = 8 + length
    arrays: dict[str, NDArray[Any]] = {}
    for spec in header["arrays"]:
        dtype = DTYPES[spec["dtype"]]
        shape = tuple(int(n) for n in spec["shape"])
        size = dtype.itemsize * math.prod(shape)
        if offset + size > len(body):
            raise ValueError(f"stored array {spec['name']!r} is truncated")
        arrays[str(spec["name"])] = np.frombuffer(body, dtype, math.prod(shape), offset).reshape(shape).copy()
        offset += size
    if offset != len(body):
        raise ValueError("stored document has trailing bytes")
    return Document(fields=dict(header["fields"]), arrays=arrays)


def _dtype_name(array: NDArray[Any]) -> str:
    for name, dtype in DTYPES.items():
        if array.dtype == dtype or array.dtype == dtype.newbyteorder("="):
            return name
    raise ValueError(f"arrays of dtype {array.dtype} cannot be stored (use {', '.join(DTYPES)})")
