"""The floor for model files: the least a linter must do to check BN statistics.

    python bench/floor.py MODEL.h5|MODEL.keras

Open the file with h5py (a .keras zip with zipfile), parse the model config JSON, find every
BatchNormalization layer (nested models included) and read its moving mean and variance. Nothing
else: no rules, no reporting, no validation. Prints one summary line.

The .keras weights member is read in place, never inflated into memory. Keras writes it
uncompressed (ZIP_STORED), so h5py gets a window on the archive at the member's offset: seeking
in it is a plain file seek. (zipfile's own ZipExtFile is seekable too, but on Python < 3.12 a
backward seek rewinds to the member's start and re-reads, with CRC, up to the target: h5py seeks
back and forth, which makes that O(file size) per seek -- seconds for a 70 MB model.) A compressed
member falls back to ZipExtFile.
"""
from __future__ import annotations

import io
import json
import struct
import sys
import zipfile

import h5py


def bn_layers(config: dict, out: dict) -> dict:
    """name -> layer config for every BatchNormalization layer, walking nested models."""
    for layer in config.get("config", {}).get("layers", []) or []:
        cls = layer.get("class_name", "")
        if cls in ("BatchNormalization", "SyncBatchNormalization"):
            out[layer["config"]["name"]] = layer["config"]
        elif isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            bn_layers(layer, out)
    return out


def read_h5(path: str) -> tuple[int, float]:
    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        wanted = bn_layers(config, {})
        weights = f["model_weights"] if "model_weights" in f else f
        n, total = 0, 0.0
        stats = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and ("moving_mean" in name or "moving_variance" in name):
                stats.append(obj)

        for name in wanted:
            group = weights.get(name)
            if group is None:   # a BN layer inside a nested model: its weights sit in the model's group
                continue
            group.visititems(visit)
        for ds in stats:
            total += float(ds[()].sum())
            n += 1
        if n < 2 * len(wanted):  # nested models: BN groups live under the model's name
            stats.clear()
            weights.visititems(visit)
            n, total = len(stats), sum(float(ds[()].sum()) for ds in stats)
        return n, total


class Window(io.RawIOBase):
    """Read-only, seekable view of bytes [start, start + size) of a file."""

    def __init__(self, fh, start: int, size: int):
        self.fh, self.start, self.size, self.pos = fh, start, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=0):
        self.pos = max(0, offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def close(self):
        self.fh.close()
        super().close()

    def readinto(self, b):
        n = max(0, min(len(b), self.size - self.pos))
        self.fh.seek(self.start + self.pos)
        got = self.fh.readinto(memoryview(b)[:n])
        self.pos += got
        return got


def open_member(zf: zipfile.ZipFile, path: str, name: str):
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        return zf.open(info)
    fh = open(path, "rb")
    fh.seek(info.header_offset)
    header = fh.read(30)                                    # local file header
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return Window(fh, info.header_offset + 30 + name_len + extra_len, info.file_size)


def read_keras(path: str) -> tuple[int, float]:
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
        wanted = bn_layers(config, {})
        n, total = 0, 0.0
        with open_member(zf, path, "model.weights.h5") as member, h5py.File(member, "r") as f:
            groups = []

            def visit(name, obj):
                # Keras 3 writes the layer name as the `name` attribute of each layer's vars group
                if isinstance(obj, h5py.Group) and name.endswith("/vars") and obj.attrs.get("name") in wanted:
                    groups.append(obj)

            f["layers"].visititems(visit)
            for vars_group in groups:
                cfg = wanted[vars_group.attrs["name"]]
                first = int(cfg.get("scale", True)) + int(cfg.get("center", True))   # gamma, beta first
                for i in (first, first + 1):                                         # mean, variance
                    total += float(vars_group[str(i)][()].sum())
                    n += 1
        return n, total


def main() -> None:
    path = sys.argv[1]
    with open(path, "rb") as fh:
        is_zip = fh.read(4) == b"PK\x03\x04"
    n, total = read_keras(path) if is_zip else read_h5(path)
    print(f"{path}: read {n} BN moving statistics (sum {total:.6g})")


if __name__ == "__main__":
    main()
