"""Tiny real Keras models for the runtime tests (probe, callback, check_model), built by the real Keras.

The seed-000 scenario of issue 12 in miniature: a small BN CNN "pretrained" on preprocessed inputs
(x / 127.5 - 1) until its moving statistics describe them, flattened into a new model, left
trainable and fine-tuned on the raw 0-255 pixels of 12 images: for a few steps (the moving
statistics still hold ~90 % of the pretrained ones: training and inference disagree), or long
enough (600 steps: they have caught up, and training and inference agree at accuracy 1.0). Works with `keras` (3) and `tf_keras` alike; 8x8 inputs
and 8 filters keep every model a few kilobytes and a fit() a second or two.
"""
from __future__ import annotations

import numpy as np

SHORT_STEPS = 10
LONG_STEPS = 600


def images(seed: int = 0):
    """(raw 0-255 images, labels, preprocessed images): 12 samples of 8x8x3, 3 classes told apart by
    their dominant colour channel (so the model can learn them), with pixel noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(12) % 3
    colour = np.full((12, 1, 1, 3), 60.0)
    colour[np.arange(12), 0, 0, labels] = 200.0
    raw = np.clip(colour + rng.normal(0, 30, size=(12, 8, 8, 3)), 0, 255).astype("float32")
    return raw, labels, raw / 127.5 - 1.0


def bn_base(keras, name: str = "base"):
    inputs = keras.Input((8, 8, 3), name="img")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, x, name=name)


def pretrained_base(keras, seed: int = 0):
    """A base trained 50 steps in training mode on preprocessed inputs (its BN statistics follow them)."""
    keras.utils.set_random_seed(seed)
    _, labels, preprocessed = images(seed)
    base = bn_base(keras)
    model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax", name="pre_head")(base.output))
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(np.tile(preprocessed, (50, 1, 1, 1)), np.tile(labels, 50), batch_size=12, epochs=1, verbose=0,
              shuffle=False)
    return base


def flattened(keras, base, frozen: tuple[str, ...] = ()):
    """`Model(base.input, head(base.output))`, the named base layers frozen, compiled."""
    for name in frozen:
        base.get_layer(name).trainable = False
    model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax", name="head")(base.output),
                        name="fine_tuned")
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fine_tune(model, steps: int, callbacks=None):
    """`steps` updates on the 12 raw images, one batch of 12 per update."""
    raw, labels, _ = images()
    model.fit(np.tile(raw, (steps, 1, 1, 1)), np.tile(labels, steps), batch_size=12, epochs=1, verbose=0,
              shuffle=False, callbacks=callbacks)
    return model


def nested_frozen(keras, base):
    """The guide's way: `base.trainable = False`, `x = base(inputs, training=False)`, new head, compiled."""
    base.trainable = False
    inputs = keras.Input((8, 8, 3), name="image")
    x = base(inputs, training=False)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x), name="nested")
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def base_with(keras, weights):
    """A fresh base holding `weights` (from `pretrained_base(...).get_weights()`): pretrain once, reuse."""
    base = bn_base(keras)
    base.set_weights(weights)
    return base
