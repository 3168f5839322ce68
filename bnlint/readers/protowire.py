"""A tiny protobuf wire-format decoder (no generated code, no protobuf package).

Only what reading `keras_metadata.pb` needs: iterate the fields of one message, each as
(field_number, wire_type, value) where value is an int (varint, fixed32, fixed64) or a
memoryview (length-delimited: strings, bytes, sub-messages). Every bound is checked, so a
truncated or hostile buffer raises ProtoError instead of reading past the end.
"""
from __future__ import annotations

from collections.abc import Iterator

VARINT, FIXED64, LENGTH_DELIMITED, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


class ProtoError(ValueError):
    pass


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise ProtoError("varint longer than 10 bytes")


def iter_fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    buf = memoryview(data)
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == FIXED64:
            if pos + 8 > len(buf):
                raise ProtoError("truncated fixed64")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == FIXED32:
            if pos + 4 > len(buf):
                raise ProtoError("truncated fixed32")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == LENGTH_DELIMITED:
            size, pos = read_varint(buf, pos)
            if pos + size > len(buf):
                raise ProtoError("length-delimited field runs past the end of the message")
            value, pos = buf[pos:pos + size], pos + size
        else:
            # Groups (3, 4) are deprecated and never written by these messages.
            raise ProtoError(f"unsupported wire type {wire}")
        yield number, wire, value
