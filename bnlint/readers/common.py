"""Helpers every reader shares: capped JSON decoding and attribute text decoding."""
from __future__ import annotations

import json
from typing import Any

from bnlint.context import Limits
from bnlint.errors import BnlintInputError


def decode_text(value: Any, what: str) -> str:
    """An HDF5 attribute or archive member as text: h5py 3 gives str, fixed-length and
    Keras 2.2.4 attributes come back as bytes or numpy.bytes_ (a bytes subclass)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BnlintInputError(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    raise BnlintInputError(f"{what} is not text (found {type(value).__name__})")


def load_json(text: str | bytes, what: str, limits: Limits) -> Any:
    """Parse JSON with a size cap; every failure becomes a BnlintInputError naming `what`."""
    size = len(text)
    if size > limits.max_json_bytes:
        raise BnlintInputError(f"{what} is {size} bytes, over the {limits.max_json_bytes}-byte limit")
    try:
        return json.loads(text)
    except RecursionError:
        # json's C scanner recurses per nesting level: absurdly deep JSON ends here.
        raise BnlintInputError(f"{what} is nested too deeply to parse") from None
    except UnicodeDecodeError as exc:
        raise BnlintInputError(f"{what} is not UTF-8 text ({exc.reason})") from None
    except ValueError as exc:
        raise BnlintInputError(f"{what} is not valid JSON ({exc})") from None


def json_object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise BnlintInputError(f"{what} is not a JSON object (found {type(value).__name__})")
    return value
