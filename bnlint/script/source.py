"""Bytes in, text out and back: encodings, BOM, line endings, notebooks.

Everything here is about faithfully reading a file and writing it back; no Keras knowledge.
"""
from __future__ import annotations

import functools
import io
import json
import re
import tokenize
from dataclasses import dataclass, field

from bnlint.errors import BnlintInputError

# Python's own line terminators (str.splitlines() also splits on \f, \x1c, \u2028..., Python does not).
_LINE_END = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines with their terminators, split exactly where the Python tokenizer splits them."""
    if "\r" not in text:            # the common case, split in C
        lines = [line + "\n" for line in text.split("\n")]
        if lines[-1] == "\n":
            lines.pop()
        else:
            lines[-1] = lines[-1][:-1]
        return lines
    lines: list[str] = []
    start = 0
    for m in _LINE_END.finditer(text):
        lines.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def dominant_newline(text: str) -> str:
    m = _LINE_END.search(text)
    return m.group(0) if m else "\n"


@dataclass
class ScriptText:
    text: str
    encoding: str
    bom: bool


def decode_script(data: bytes) -> ScriptText:
    """Decode a .py file the way Python does (BOM, PEP 263 cookie), or raise BnlintInputError."""
    nul = data.find(b"\x00")
    if nul != -1:
        raise BnlintInputError(f"not a Python source file: binary content (NUL byte at offset {nul})")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise BnlintInputError(f"cannot determine the source encoding: {exc}") from None
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "utf-8" if encoding == "utf-8-sig" else encoding
        raise BnlintInputError(
            f"cannot decode as {name}: invalid byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(declare the encoding with a PEP 263 '# -*- coding: ... -*-' line)") from None
    if bom and text.startswith("\ufeff"):
        text = text[1:]
    return ScriptText(text, encoding, bom)


def encode_script(source: ScriptText, text: str) -> bytes:
    encoding = "utf-8" if source.encoding == "utf-8-sig" else source.encoding
    body = text.encode(encoding)
    return (b"\xef\xbb\xbf" + body) if source.bom and not body.startswith(b"\xef\xbb\xbf") else body


# --- notebooks -------------------------------------------------------------------------------

@dataclass
class CodeCell:
    number: int          # 1-based among code cells (what users and findings see)
    index: int           # position in nb["cells"]
    text: str            # the cell's source as written

    @functools.cached_property
    def python(self):
        """The Python IPython runs for this cell (bnlint.script.ipython_input.CellPython)."""
        from bnlint.script.ipython_input import cell_python

        return cell_python(self.text)


@dataclass
class Notebook:
    document: dict
    cells: list[CodeCell]
    indent: int | None
    ensure_ascii: bool
    trailing_newline: bool
    python: bool = True
    extra: dict = field(default_factory=dict)
    python2: bool = False        # a Python 2 kernel (kernelspec python2, language_info version 2.x)


def load_notebook(data: bytes) -> Notebook:
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BnlintInputError(f"notebook is not UTF-8: invalid byte at offset {exc.start}") from None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BnlintInputError(f"notebook is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise BnlintInputError("notebook has no 'cells' list (not an nbformat 4 notebook)")
    language = (document.get("metadata") or {}).get("language_info", {}) or {}
    python = str(language.get("name", "python")).lower() in ("python", "ipython", "python2", "python3")
    kernel = (document.get("metadata") or {}).get("kernelspec", {}) or {}
    python2 = python and (str(language.get("version", "")).startswith("2.")
                          or str(kernel.get("name", "") if isinstance(kernel, dict) else "").lower() == "python2")
    cells = []
    for index, cell in enumerate(document["cells"]):
        if not isinstance(cell, dict) or "cell_type" not in cell:
            raise BnlintInputError(f"notebook cell {index + 1} has no 'cell_type'")
        if cell["cell_type"] != "code":
            continue
        source = cell.get("source")
        if source is None:
            raise BnlintInputError(f"notebook code cell {len(cells) + 1} has no 'source'")
        if isinstance(source, list):
            if not all(isinstance(part, str) for part in source):
                raise BnlintInputError(f"notebook code cell {len(cells) + 1} has a non-string 'source' entry")
            text = "".join(source)
        elif isinstance(source, str):
            text = source
        else:
            raise BnlintInputError(f"notebook code cell {len(cells) + 1} 'source' is not text")
        cells.append(CodeCell(len(cells) + 1, index, text))
    indent = _detect_indent(raw)
    return Notebook(document, cells, indent, ensure_ascii=raw.isascii(),
                    trailing_newline=raw.endswith("\n"), python=python, python2=python2)


def _detect_indent(raw: str) -> int | None:
    m = re.search(r"\n([ ]+)\S", raw)
    if m:
        return len(m.group(1))
    return None


def dump_notebook(notebook: Notebook, new_sources: dict[int, str]) -> bytes:
    """Write the notebook back with cells (by code-cell number) replaced, keeping the JSON layout."""
    for cell in notebook.cells:
        if cell.number not in new_sources:
            continue
        entry = notebook.document["cells"][cell.index]
        text = new_sources[cell.number]
        if isinstance(entry["source"], list):
            entry["source"] = [line for line in re.split(r"(?<=\n)", text) if line]
        else:
            entry["source"] = text
    out = json.dumps(notebook.document, indent=notebook.indent, ensure_ascii=notebook.ensure_ascii)
    if notebook.trailing_newline:
        out += "\n"
    return out.encode("utf-8")


def notebook_from_cells(cells: list[tuple[bool, str]]) -> bytes:
    """An nbformat 4 notebook of (is Python code, text) cells, in order: the analyzer numbers the
    code cells 1, 2, ... as they come, which is how findings find their way back to a cell."""
    document = {
        "cells": [{"cell_type": "code" if is_code else "markdown", "metadata": {}, "source": text,
                   **({"outputs": [], "execution_count": None} if is_code else {})}
                  for is_code, text in cells],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    return json.dumps(document).encode("utf-8")
