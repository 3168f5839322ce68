"""The probe's DATA: a `.npy`/`.npz` array of model inputs, or a folder of images."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bnlint.errors import UsageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
PREPROCESS_MODES = ("none", "caffe", "tf", "torch")   # keras.applications.imagenet_utils modes


def load_inputs(path: Path, runtime, input_shape: tuple, *, samples: int, preprocess: str) -> Any:
    """The first `samples` inputs as one float32 array shaped like the model input (batch first)."""
    import numpy

    if path.is_dir():
        array = _images(path, runtime, input_shape, samples, preprocess)
    else:
        if preprocess != "none":
            raise UsageError("--preprocess applies to a folder of images; an array must hold the inputs exactly "
                             "as training feeds them")
        array = _array(path)[:samples]
    array = numpy.asarray(array)
    if array.dtype.kind not in "fiub":
        raise UsageError(f"{path}: holds {array.dtype} data, not numbers")
    array = array.astype("float32")
    expected = tuple(input_shape[1:])
    if array.ndim != len(expected) + 1 or any(e is not None and e != a for e, a in zip(expected, array.shape[1:])):
        shown = "(N, " + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise UsageError(f"{path}: inputs of shape {array.shape} do not fit the model input {shown}")
    if len(array) == 0:
        raise UsageError(f"{path}: no samples")
    return array


def _array(path: Path) -> Any:
    import numpy

    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise UsageError(f"{path}: DATA must be a .npy or .npz file or a folder of images")
    try:
        loaded = numpy.load(path, allow_pickle=False)      # never unpickle data files
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read ({exc})") from None
    if suffix == ".npy":
        return loaded
    with loaded:
        names = list(loaded.files)
        if "x" in names:
            return loaded["x"]
        if len(names) == 1:
            return loaded[names[0]]
        raise UsageError(f"{path}: holds {', '.join(names)}; name the inputs array `x`")


def _images(folder: Path, runtime, input_shape: tuple, samples: int, preprocess: str) -> Any:
    import numpy

    if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
        raise UsageError(f"a folder of images needs a model with a fixed (height, width, channels) input, "
                         f"not {tuple(input_shape)}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())[:samples]
    if not files:
        raise UsageError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    keras = runtime.module
    height, width, channels = input_shape[1:]
    color_mode = {1: "grayscale", 4: "rgba"}.get(channels, "rgb")
    try:
        images = [keras.utils.img_to_array(keras.utils.load_img(p, target_size=(height, width), color_mode=color_mode))
                  for p in files]
    except (OSError, ValueError, ImportError) as exc:
        raise UsageError(f"cannot read the images in {folder}: {exc}") from None
    array = numpy.stack(images).astype("float32")
    if preprocess != "none":
        array = keras.applications.imagenet_utils.preprocess_input(array, mode=preprocess)
    return array
