"""Read float vectors from a TF checkpoint (tensor bundle) without TensorFlow.

`variables/variables.index` is a LevelDB-style table (tensorflow/core/lib/io/table): data blocks
of prefix-compressed `key -> value` entries, an index block pointing at them, and a 48-byte
footer ending in the magic 0xdb4775248b80fb57. Keys are object-graph paths such as
`layer_with_weights-1/moving_mean/.ATTRIBUTES/VARIABLE_VALUE`; values are BundleEntryProto
(dtype = 1, shape = 2, shard_id = 3, offset = 4, size = 5). The tensor bytes sit in
`variables.data-<shard>-of-<count>` at that offset, little-endian. Bundles are written without
block compression; anything else is refused. Every offset is bounds-checked.
"""
from __future__ import annotations

import pathlib
import struct
from dataclasses import dataclass

from bnlint.errors import BnlintInputError
from bnlint.readers.protowire import LENGTH_DELIMITED, VARINT, ProtoError, iter_fields, read_varint

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_DT_STRING = 7
_DTYPES = {1: ("<f", 4), 2: ("<d", 8), 19: ("<e", 2), 3: ("<i", 4), 9: ("<q", 8)}   # float, double, half, int32, int64


@dataclass(frozen=True)
class BundleEntry:
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


class TensorBundle:
    def __init__(self, prefix: pathlib.Path, max_index_bytes: int):
        """`prefix` is `<savedmodel>/variables/variables`."""
        self.prefix = prefix
        index = prefix.with_name(prefix.name + ".index")
        try:
            size = index.stat().st_size
            if size > max_index_bytes:
                raise BnlintInputError(f"{index.name} is {size} bytes, over the {max_index_bytes}-byte limit")
            self._index = index.read_bytes()
        except OSError as exc:
            raise BnlintInputError(f"cannot read the SavedModel variables index ({exc.strerror or exc})") from None
        try:
            self.entries, self.num_shards = _parse_index(self._index)
        except (ProtoError, struct.error, IndexError, ValueError) as exc:
            raise BnlintInputError(f"corrupt SavedModel variables index ({exc})") from None

    def _raw(self, key: str, entry: BundleEntry) -> bytes:
        shard = self.prefix.with_name(f"{self.prefix.name}.data-{entry.shard_id:05d}-of-{self.num_shards:05d}")
        try:
            with open(shard, "rb") as fh:
                fh.seek(entry.offset)
                raw = fh.read(entry.size)
        except OSError as exc:
            raise BnlintInputError(f"cannot read the SavedModel variables data ({exc.strerror or exc})") from None
        if len(raw) != entry.size:
            raise BnlintInputError(f"the SavedModel variables data is truncated at '{key}'")
        return raw

    def read_string(self, key: str, max_bytes: int) -> bytes:
        """A scalar DT_STRING tensor: varint length, 4-byte checksum of the lengths, then the bytes."""
        entry = self.entries.get(key)
        if entry is None or entry.dtype != _DT_STRING or entry.shape != ():
            raise BnlintInputError(f"the SavedModel checkpoint has no string '{key}'")
        if entry.size > max_bytes:
            raise BnlintInputError(f"'{key}' is {entry.size} bytes, over the {max_bytes}-byte limit")
        raw = self._raw(key, entry)
        try:
            length, pos = read_varint(memoryview(raw), 0)
        except ProtoError as exc:
            raise BnlintInputError(f"corrupt string tensor '{key}' ({exc})") from None
        if pos + 4 + length > len(raw):
            raise BnlintInputError(f"corrupt string tensor '{key}' (length past its end)")
        return raw[pos + 4:pos + 4 + length]

    def read(self, key: str, max_elements: int) -> list[float]:
        entry = self.entries.get(key)
        if entry is None:
            raise BnlintInputError(f"the SavedModel checkpoint has no variable '{key}'")
        if entry.dtype not in _DTYPES:
            raise BnlintInputError(f"variable '{key}' has unsupported dtype {entry.dtype}")
        fmt, width = _DTYPES[entry.dtype]
        count = 1
        for dim in entry.shape:
            count *= dim
        if count > max_elements or entry.size != count * width:
            raise BnlintInputError(f"variable '{key}' has shape {entry.shape} and {entry.size} bytes: not a BN vector")
        raw = self._raw(key, entry)
        return [float(v) for v in struct.unpack(f"<{count}{fmt[1]}", raw)]


def _block(data: bytes, offset: int, size: int) -> bytes:
    if offset < 0 or size < 4 or offset + size + 5 > len(data):
        raise ValueError("block handle outside the file")
    if data[offset + size] != 0:
        raise ValueError("compressed table blocks are not supported")
    return data[offset:offset + size]


def _entries(block: bytes):
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 * (restarts + 1)
    if end < 0:
        raise ValueError("bad restart count")
    buf = memoryview(block)
    pos, key = 0, b""
    while pos < end:
        shared, pos = read_varint(buf, pos)
        unshared, pos = read_varint(buf, pos)
        value_len, pos = read_varint(buf, pos)
        if shared > len(key) or pos + unshared + value_len > end:
            raise ValueError("table entry runs past its block")
        key = key[:shared] + bytes(buf[pos:pos + unshared])
        pos += unshared
        yield key, bytes(buf[pos:pos + value_len])
        pos += value_len


def _handle(value: bytes) -> tuple[int, int]:
    buf = memoryview(value)
    offset, pos = read_varint(buf, 0)
    size, _ = read_varint(buf, pos)
    return offset, size


def _parse_index(data: bytes) -> tuple[dict[str, BundleEntry], int]:
    if len(data) < _FOOTER:
        raise ValueError("file shorter than a table footer")
    footer = data[-_FOOTER:]
    (magic,) = struct.unpack_from("<Q", footer, 40)
    if magic != _MAGIC:
        raise ValueError("no table magic number")
    buf = memoryview(footer)
    _, pos = read_varint(buf, 0)              # metaindex handle (unused)
    _, pos = read_varint(buf, pos)
    index_offset, pos = read_varint(buf, pos)
    index_size, _ = read_varint(buf, pos)
    entries: dict[str, BundleEntry] = {}
    num_shards = 1
    for _, handle in _entries(_block(data, index_offset, index_size)):
        offset, size = _handle(handle)
        for key, value in _entries(_block(data, offset, size)):
            if key == b"":                    # BundleHeaderProto: num_shards = 1
                for n, w, v in iter_fields(value):
                    if n == 1 and w == VARINT:
                        num_shards = max(1, v)
                continue
            entries[key.decode("utf-8", "replace")] = _bundle_entry(value)
    return entries, num_shards


def _bundle_entry(value: bytes) -> BundleEntry:
    dtype = shard = offset = size = 0
    shape: list[int] = []
    for n, w, v in iter_fields(value):
        if n == 1 and w == VARINT:
            dtype = v
        elif n == 2 and w == LENGTH_DELIMITED:
            for dn, dw, dv in iter_fields(v):           # TensorShapeProto.dim = 2
                if dn == 2 and dw == LENGTH_DELIMITED:
                    for sn, sw, sv in iter_fields(dv):  # Dim.size = 1
                        if sn == 1 and sw == VARINT:
                            shape.append(sv)
        elif n == 3 and w == VARINT:
            shard = v
        elif n == 4 and w == VARINT:
            offset = v
        elif n == 5 and w == VARINT:
            size = v
    return BundleEntry(dtype, tuple(shape), shard, offset, size)


OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def object_graph(data: bytes) -> list[tuple[dict[str, int], dict[str, str]]]:
    """TrackableObjectGraph -> per node: ({child local_name: node_id}, {attribute name: checkpoint_key}).

    TrackableObjectGraph { repeated TrackableObject nodes = 1; } with TrackableObject
    { repeated ObjectReference children = 1 {node_id = 1, local_name = 2};
      repeated SerializedTensor attributes = 2 {name = 1, full_name = 2, checkpoint_key = 3}; }
    """
    nodes = []
    try:
        for n, w, node in iter_fields(data):
            if n != 1 or w != LENGTH_DELIMITED:
                continue
            children: dict[str, int] = {}
            attributes: dict[str, str] = {}
            for fn, fw, fv in iter_fields(node):
                if fw != LENGTH_DELIMITED or fn not in (1, 2):
                    continue
                fields = {k: v for k, _, v in iter_fields(fv)}
                if fn == 1:
                    name = bytes(fields.get(2, b"")).decode("utf-8", "replace")
                    node_id = fields.get(1, 0)
                    if isinstance(node_id, int):
                        children[name] = node_id
                else:
                    name = bytes(fields.get(1, b"")).decode("utf-8", "replace")
                    key = fields.get(3, b"")
                    if not isinstance(key, int):
                        attributes[name] = bytes(key).decode("utf-8", "replace")
            nodes.append((children, attributes))
    except ProtoError as exc:
        raise BnlintInputError(f"corrupt SavedModel object graph ({exc})") from None
    return nodes
