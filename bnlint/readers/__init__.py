"""Readers: one per model file format, each producing the format-free ModelGraph.

A reader never decides a finding; it reports unreadable input as BnlintInputError and
artifacts without a Keras config as NoKerasConfig. No reader imports TensorFlow or Keras.
"""
from __future__ import annotations

import pathlib

from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError
from bnlint.model.graph import ModelGraph

_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def read_model(path: pathlib.Path, ctx: RuleContext) -> ModelGraph:
    from bnlint.readers.h5 import read_h5
    from bnlint.readers.keras_zip import read_keras_zip
    from bnlint.readers.savedmodel import read_savedmodel

    path = pathlib.Path(path)
    if path.name == "saved_model.pb" and path.is_file():
        path = path.parent                     # pre-commit passes the file; it means its folder
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise BnlintInputError("folder is not a SavedModel (no saved_model.pb)")
        return read_savedmodel(path, ctx)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise BnlintInputError(f"cannot open model file ({exc.strerror or exc})") from None
    if head.startswith(_ZIP_MAGIC):
        return read_keras_zip(path, ctx)
    if head == _HDF5_MAGIC or path.suffix.lower() in (".h5", ".hdf5"):
        # HDF5 may also start after a user block; h5py finds the signature itself.
        return read_h5(path, ctx)
    if path.suffix.lower() == ".keras":
        raise BnlintInputError("not a .keras zip archive (no zip signature)")
    raise BnlintInputError("unrecognised model file (neither HDF5 nor a .keras zip)")
