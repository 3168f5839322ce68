"""Keras v3 `.keras` zip (Keras 3, tf_keras >= 2.13) -> ModelGraph.

Members (semantics doc §2.3): `metadata.json` (`keras_version`), `config.json` (the model
config), `model.weights.h5`, whose groups are named by snake_case class in tracking order
(`layers/batch_normalization_1/vars/0..3`), not by layer name; Keras 3 also writes a `name`
attribute on each `vars` group. Sizes are checked before anything is decompressed, and the
weights file is streamed from the zip instead of being read into memory.
"""
from __future__ import annotations

import io
import pathlib
import re
import struct
import zipfile
from typing import Any

from bnlint.context import RuleContext
from bnlint.errors import BnlintInputError, NoKerasConfig
from bnlint.model.graph import BNStatistics, Layer, ModelGraph, WeightsSnapshot
from bnlint.readers.bn_weights import dataset_at, positional_roles, read_step_count, read_vector, statistics_from
from bnlint.readers.common import decode_text, json_object, load_json
from bnlint.readers.h5 import H5_ERRORS, open_h5
from bnlint.readers.keras_config import root_from_model_config, saved_optimizer, writer_from_config
from bnlint.target import from_keras_version

_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               NotImplementedError, RuntimeError)   # RuntimeError: encrypted members


def read_keras_zip(path: pathlib.Path, ctx: RuleContext) -> ModelGraph:
    try:
        with zipfile.ZipFile(path) as zf:
            return _graph_from_zip(zf, path, ctx)
    except _ZIP_ERRORS as exc:
        raise BnlintInputError(f"not a readable .keras zip archive ({type(exc).__name__}: {exc})") from None


def _member(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return zf.getinfo(name)
    except KeyError:
        return None


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    # file_size is what the archive claims; the read is bounded by it and by cap + 1 anyway,
    # so a zip bomb that lies about its size cannot make us inflate more than that.
    if info.file_size > cap:
        raise BnlintInputError(f"{info.filename} is {info.file_size} bytes uncompressed, over the {cap}-byte limit")
    with zf.open(info) as member:
        data = member.read(cap + 1)
    if len(data) > cap:
        raise BnlintInputError(f"{info.filename} inflates beyond the {cap}-byte limit")
    return data


def _graph_from_zip(zf: zipfile.ZipFile, path: pathlib.Path, ctx: RuleContext) -> ModelGraph:
    config_info = _member(zf, _CONFIG)
    if config_info is None:
        if _member(zf, _WEIGHTS) is not None:
            raise NoKerasConfig(".keras archive without config.json: it holds weights only")
        raise BnlintInputError(".keras archive has no config.json (not a Keras v3 model file)")
    raw = _read_capped(zf, config_info, ctx.limits.max_json_bytes)
    model_config = json_object(load_json(raw, "config.json", ctx.limits), "config.json")
    version = None
    metadata_info = _member(zf, _METADATA)
    if metadata_info is not None:
        metadata = load_json(_read_capped(zf, metadata_info, ctx.limits.max_json_bytes), "metadata.json", ctx.limits)
        if isinstance(metadata, dict) and metadata.get("keras_version") is not None:
            version = decode_text(metadata["keras_version"], "metadata.json keras_version")
    root = root_from_model_config(model_config, ctx.limits.max_nesting, "config.json")
    compile_config = model_config.get("compile_config")
    return ModelGraph(
        root=root, format="keras", keras_version=version,
        writer=from_keras_version(version) or writer_from_config(model_config),
        has_training_config=isinstance(compile_config, dict) and bool(compile_config),
        optimizer=saved_optimizer(compile_config.get("optimizer")) if isinstance(compile_config, dict) else None,
        weights_loader=lambda graph: _load_weights(path, graph, ctx))


def _load_weights(path: pathlib.Path, graph: ModelGraph, ctx: RuleContext) -> WeightsSnapshot:
    try:
        with zipfile.ZipFile(path) as zf:
            info = _member(zf, _WEIGHTS)
            if info is None:
                names = [n for n in zf.namelist() if n.startswith("model.weights")]
                detail = f" (found {names[0]}: only the h5 weights format is read)" if names else ""
                raise BnlintInputError(f".keras archive has no {_WEIGHTS}{detail}")
            if info.file_size > ctx.limits.max_member_bytes:
                raise BnlintInputError(f"{_WEIGHTS} is {info.file_size} bytes uncompressed, over the "
                                       f"{ctx.limits.max_member_bytes}-byte limit")
            with _weights_file(zf, info) as member, open_h5(member, _WEIGHTS) as f:
                try:
                    bn = v3_bn_statistics(f, graph.root)
                    iterations, has_optimizer = _optimizer_state(f)
                except H5_ERRORS as exc:
                    raise BnlintInputError(f"corrupt {_WEIGHTS} ({type(exc).__name__}: {exc})") from None
    except _ZIP_ERRORS as exc:
        raise BnlintInputError(
            f"cannot read {_WEIGHTS} from the .keras archive ({type(exc).__name__}: {exc})") from None
    return WeightsSnapshot(bn=bn, optimizer_iterations=iterations, has_optimizer_state=has_optimizer)


# A deflated weights member up to this size is inflated into memory: seeking backwards in a
# deflated ZipExtFile restarts decompression, which h5py's random access would make quadratic.
_INFLATE_IN_MEMORY_BYTES = 256 * 1024 * 1024


def _weights_file(zf: zipfile.ZipFile, info: zipfile.ZipInfo):
    """A seekable file object for model.weights.h5, read in place when possible.

    Keras stores it uncompressed (ZIP_STORED): h5py then reads the archive's bytes directly through
    a window onto the member (bounded memory, random access without the CRC pass and rewinds that
    ZipExtFile.seek costs before Python 3.12). A deflated member is inflated into memory only
    within the cap.
    """
    if info.compress_type == zipfile.ZIP_STORED:
        return StoredMemberView(zf.fp, info)
    if info.file_size > _INFLATE_IN_MEMORY_BYTES:
        return zf.open(info)
    return io.BytesIO(_read_capped(zf, info, _INFLATE_IN_MEMORY_BYTES))


class StoredMemberView(io.RawIOBase):
    """Read-only, seekable view of an uncompressed zip member's bytes inside the archive file."""

    _LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., file name length, extra length

    def __init__(self, archive, info: zipfile.ZipInfo):
        super().__init__()
        self._archive = archive
        archive.seek(info.header_offset)
        raw = archive.read(self._LOCAL_HEADER.size)
        if len(raw) != self._LOCAL_HEADER.size:
            raise zipfile.BadZipFile(f"truncated local header of {info.filename}")
        signature, name_length, extra_length = self._LOCAL_HEADER.unpack(raw)
        if signature != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local header of {info.filename}")
        self._start = info.header_offset + self._LOCAL_HEADER.size + name_length + extra_length
        self._size = info.file_size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        self._archive.seek(self._start + self._pos)
        data = self._archive.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def to_snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the group name of a layer class in model.weights.h5."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def v3_bn_statistics(f: Any, root: Layer) -> dict[str, BNStatistics]:
    """BN statistics from a Keras v3 weights file: `layers/<snake_case>[_N]/vars/<i>` per container."""
    out: dict[str, BNStatistics] = {}
    pending: list[tuple[Layer, Any]] = [(root, f.get("layers"))]
    while pending:
        model, container = pending.pop()
        wanted = [child for child in model.children if child.is_bn or child.is_model]
        if not any(layer.is_bn for child in wanted for layer in child.walk()):
            continue
        if container is None:
            raise BnlintInputError(f"{_WEIGHTS} has no layers group for '{model.path or model.name}'")
        groups = _groups_by_layer(model, container)
        for child in wanted:
            group = groups.get(child.name)
            if group is None:
                if any(layer.is_bn for layer in child.walk()):
                    raise BnlintInputError(f"{_WEIGHTS} has no weights for layer '{child.path}'")
                continue
            if child.is_bn:
                out[child.path] = _bn_from_vars(child, group.get("vars"))
            else:
                pending.append((child, group.get("layers")))
    return out


def _groups_by_layer(model: Layer, container: Any) -> dict[str, Any]:
    """Layer name -> its group, for the BN and nested-model children of `model`.

    Keras names a layer's group by counting snake_case class names in tracking order (config
    order); Keras 3 also records the layer's `name` on `<group>/vars`. The counted groups are
    checked against those names (only for the children wanted); a mismatch means the file was
    written in another order, and every group's name is read instead."""
    wanted = [child for child in model.children if child.is_bn or child.is_model]
    counted = _counted_groups(model, container)
    if all(child.name in counted and _recorded_name(counted[child.name]) in (None, child.name) for child in wanted):
        return counted
    named: dict[str, Any] = {}
    for key in container:
        group = container[key]
        label = _recorded_name(group)
        if label is not None:
            named[label] = group
    if named and all(child.name in named for child in wanted):
        return named
    return counted


def _counted_groups(model: Layer, container: Any) -> dict[str, Any]:
    counted: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for child in model.children:       # tracking order = config order (tf_keras writes no names)
        base = to_snake_case(child.class_name)
        n = seen.get(base, 0)
        seen[base] = n + 1
        key = base if n == 0 else f"{base}_{n}"
        if key in container:
            counted[child.name] = container[key]
    return counted


def _recorded_name(group: Any) -> str | None:
    """The layer name Keras 3 records on `<group>/vars` (None when the writer recorded none)."""
    vars_group = group.get("vars") if hasattr(group, "get") else None
    label = vars_group.attrs.get("name") if vars_group is not None else None
    return decode_text(label, f"{_WEIGHTS} {group.name}/vars name") if label is not None else None


def _bn_from_vars(layer: Layer, vars_group: Any) -> BNStatistics:
    if vars_group is None:
        raise BnlintInputError(f"{_WEIGHTS} has no variables for BN layer '{layer.path}'")
    count = sum(1 for key in vars_group if key.isdigit())
    roles = positional_roles(layer, count)
    by_role = {}
    for i, role in enumerate(roles):
        if str(i) not in vars_group:
            raise BnlintInputError(f"{_WEIGHTS} lacks variable {i} of BN layer '{layer.path}'")
        what = f"variable {i} ({role}) of BN layer '{layer.path}'"
        by_role[role] = read_vector(dataset_at(vars_group, str(i), what), what)
    return statistics_from(layer, by_role)


def _optimizer_state(f: Any) -> tuple[int | None, bool]:
    """(iteration count, any optimizer variables saved). Variable 0 is the iteration counter."""
    vars_group = f.get("optimizer/vars")
    if vars_group is None or len(vars_group) == 0:
        return None, False
    if vars_group.get("0", getlink=True) is None:
        return None, True
    first = dataset_at(vars_group, "0", "optimizer variable 0")
    is_counter = getattr(getattr(first, "dtype", None), "kind", None) in ("i", "u")
    return (read_step_count(first) if is_counter else None), True
