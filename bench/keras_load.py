"""The peer for model files: what users do today to inspect BN layers.

    python bench/keras_load.py MODEL.h5|MODEL.keras

Load the model with Keras (`tf_keras.models.load_model` for the tf_keras-written legacy .h5,
Keras 3's `keras.models.load_model` for the .keras zip), then walk every layer, nested models
included, and read each BatchNormalization layer's trainable flag and moving statistics.
Prints one summary line.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def walk(layers, out):
    for layer in layers:
        if type(layer).__name__ in ("BatchNormalization", "SyncBatchNormalization"):
            out.append(layer)
        sub = getattr(layer, "layers", None)
        if sub:
            walk(sub, out)
    return out


def main() -> None:
    path = sys.argv[1]
    if path.endswith((".h5", ".hdf5")):
        import tf_keras as keras
    else:
        import keras
    model = keras.models.load_model(path)
    bns = walk(model.layers, [])
    frozen = sum(1 for layer in bns if not layer.trainable)
    total = 0.0
    for layer in bns:
        total += float(layer.moving_mean.numpy().sum()) + float(layer.moving_variance.numpy().sum())
    print(f"{path}: {len(bns)} BN layers, {frozen} frozen, moving statistics sum {total:.6g}")


if __name__ == "__main__":
    main()
