#!/usr/bin/env python3
"""Fine-tune an ImageNet ResNet50 on a folder of labelled images.

Two stages, as in most transfer-learning tutorials:
  1. train a new classification head on top of the frozen base;
  2. unfreeze the top of the base and fine-tune it with a much smaller learning rate.

Expected layout of --data-dir (one folder per class):

    data/
      train/<class_name>/*.jpg
      test/<class_name>/*.jpg      (optional: a held-out test set)

Usage:
    python train.py --data-dir data --epochs 15 --fine-tune-epochs 10 --out runs/resnet50
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import math
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
from tensorflow.keras.applications import ResNet50
from tensorflow.keras.applications.resnet50 import preprocess_input

log = logging.getLogger("train")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
AUTOTUNE = tf.data.AUTOTUNE


# ----------------------------------------------------------------------------- configuration

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True, help="folder with train/ (and optionally test/)")
    p.add_argument("--out", type=Path, default=Path("runs") / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--val-split", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=15, help="epochs for the head (frozen base)")
    p.add_argument("--fine-tune-epochs", type=int, default=10, help="0 to skip fine-tuning")
    p.add_argument("--fine-tune-at", type=int, default=143,
                   help="unfreeze base layers from this index on (143 = start of conv5 in ResNet50)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fine-tune-lr", type=float, default=1e-5)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--weights", default="imagenet", help="'imagenet' or a path to weights")
    p.add_argument("--mixed-precision", action="store_true")
    p.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    p.add_argument("--cache", action="store_true", help="cache decoded images in memory")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--verbose", "-v", action="count", default=0)
    return p.parse_args(argv)


def setup_logging(out: Path, verbosity: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    handlers = [logging.StreamHandler(sys.stdout), logging.FileHandler(out / "train.log")]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(message)s", handlers=handlers)
    if verbosity == 0:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def configure_devices(mixed_precision: bool) -> tf.distribute.Strategy:
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as exc:  # must be set before the GPUs are initialised
            log.warning("could not enable memory growth on %s: %s", gpu.name, exc)
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
        log.info("mixed precision enabled (compute %s)", keras.mixed_precision.global_policy().compute_dtype)
    if len(gpus) > 1:
        log.info("using MirroredStrategy on %d GPUs", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


# ----------------------------------------------------------------------------- data pipeline

def list_classes(train_dir: Path) -> list[str]:
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise SystemExit(f"{train_dir} needs at least two class folders, found {classes}")
    return classes


def count_images(folder: Path, classes: list[str]) -> Counter:
    counts = Counter()
    for name in classes:
        class_dir = folder / name
        if class_dir.is_dir():
            counts[name] = sum(1 for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    return counts


def load_split(folder: Path, args, classes, subset=None, shuffle=True) -> tf.data.Dataset:
    kwargs = dict(
        labels="inferred",
        label_mode="int",
        class_names=classes,
        image_size=(args.image_size, args.image_size),
        batch_size=None,              # batched later, after augmentation
        shuffle=shuffle,
        seed=args.seed,
    )
    if subset is not None:
        kwargs.update(validation_split=args.val_split, subset=subset)
    return keras.utils.image_dataset_from_directory(folder, **kwargs)


def build_augmentation(seed: int) -> keras.Sequential:
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.08, seed=seed),
            layers.RandomZoom(0.15, seed=seed),
            layers.RandomTranslation(0.1, 0.1, seed=seed),
            layers.RandomContrast(0.2, seed=seed),
        ],
        name="augmentation",
    )


def prepare(ds: tf.data.Dataset, args, augment=None, training=False) -> tf.data.Dataset:
    if args.cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(buffer_size=4 * args.batch_size * 8, seed=args.seed, reshuffle_each_iteration=True)
    ds = ds.batch(args.batch_size, drop_remainder=training)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=AUTOTUNE)
    ds = ds.map(lambda x, y: (preprocess_input(tf.cast(x, tf.float32)), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def make_datasets(args, classes):
    train_dir = args.data_dir / "train"
    train_raw = load_split(train_dir, args, classes, subset="training")
    val_raw = load_split(train_dir, args, classes, subset="validation", shuffle=False)
    test_dir = args.data_dir / "test"
    test_raw = load_split(test_dir, args, classes, shuffle=False) if test_dir.is_dir() else None
    augment = build_augmentation(args.seed)
    train = prepare(train_raw, args, augment=augment, training=True)
    val = prepare(val_raw, args)
    test = prepare(test_raw, args) if test_raw is not None else None
    return train, val, test


def compute_class_weights(counts: Counter, classes: list[str]) -> dict[int, float]:
    total = sum(counts.values())
    weights = {}
    for i, name in enumerate(classes):
        n = counts.get(name, 0)
        weights[i] = total / (len(classes) * n) if n else 0.0
    log.info("class weights: %s", {classes[i]: round(w, 3) for i, w in weights.items()})
    return weights


# ----------------------------------------------------------------------------- model

def build_model(num_classes: int, args) -> tuple[keras.Model, keras.Model]:
    """ResNet50 base without its top, a new pooling + dropout + softmax head."""
    input_shape = (args.image_size, args.image_size, 3)
    base_model = ResNet50(weights=args.weights, include_top=False, input_shape=input_shape)
    base_model.trainable = False

    x = base_model.output
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.Dropout(args.dropout, name="head_dropout")(x)
    # keep the softmax in float32 under mixed precision
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    model = keras.Model(inputs=base_model.input, outputs=outputs, name="resnet50_transfer")
    return model, base_model


def compile_model(model: keras.Model, lr: float, label_smoothing: float, num_classes: int) -> None:
    # label smoothing needs one-hot targets; the datasets yield integer labels
    def loss(y_true, y_pred):
        y_true = tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), num_classes)
        return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=label_smoothing)

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=loss,
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, num_classes), name="top5"),
        ],
    )


def unfreeze_top(base_model: keras.Model, fine_tune_at: int) -> int:
    base_model.trainable = True
    for layer in base_model.layers[:fine_tune_at]:
        layer.trainable = False
    trainable = sum(1 for layer in base_model.layers if layer.trainable)
    log.info("fine-tuning %d of %d base layers (from index %d, %s)", trainable, len(base_model.layers),
             fine_tune_at, base_model.layers[fine_tune_at].name)
    return trainable


# ----------------------------------------------------------------------------- callbacks

class EpochTimer(keras.callbacks.Callback):
    """Log wall time and learning rate per epoch (TensorBoard shows neither by default)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        lr = self.model.optimizer.learning_rate
        lr = float(lr(self.model.optimizer.iterations)) if callable(lr) else float(keras.backend.get_value(lr))
        logs["lr"] = lr
        logs["epoch_seconds"] = time.perf_counter() - self._start
        log.info("epoch %d: %.1fs  lr=%.2e  loss=%.4f  val_loss=%.4f  acc=%.4f  val_acc=%.4f",
                 epoch + 1, logs["epoch_seconds"], lr, logs.get("loss", math.nan), logs.get("val_loss", math.nan),
                 logs.get("accuracy", math.nan), logs.get("val_accuracy", math.nan))


def make_callbacks(out: Path, stage: str, patience: int) -> list[keras.callbacks.Callback]:
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.ModelCheckpoint(
            filepath=str(ckpt_dir / f"{stage}-best.h5"),
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            verbose=1,
        ),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True, verbose=1),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=max(1, patience // 2),
                                          min_lr=1e-7, verbose=1),
        keras.callbacks.CSVLogger(str(out / f"history-{stage}.csv")),
        keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard" / stage), histogram_freq=0,
                                    update_freq="epoch", profile_batch=0),
        keras.callbacks.TerminateOnNaN(),
        EpochTimer(),
    ]


# ----------------------------------------------------------------------------- evaluation

def predict_labels(model: keras.Model, ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = [], []
    for images, labels in ds:
        probs = model.predict_on_batch(images)
        y_true.append(labels.numpy())
        y_pred.append(np.argmax(probs, axis=-1))
    return np.concatenate(y_true), np.concatenate(y_pred)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def per_class_report(cm: np.ndarray, classes: list[str]) -> list[dict]:
    rows = []
    for i, name in enumerate(classes):
        tp = cm[i, i]
        fp = cm[:, i].sum() - tp
        fn = cm[i, :].sum() - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": int(cm[i].sum())})
    return rows


def evaluate(model, ds, classes, out: Path, name: str) -> dict:
    results = model.evaluate(ds, return_dict=True, verbose=0)
    y_true, y_pred = predict_labels(model, ds)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    report = per_class_report(cm, classes)
    with open(out / f"report-{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["class", "precision", "recall", "f1", "support"])
        writer.writeheader()
        writer.writerows(report)
    np.savetxt(out / f"confusion-{name}.txt", cm, fmt="%d")
    macro_f1 = float(np.mean([r["f1"] for r in report]))
    log.info("%s: loss=%.4f accuracy=%.4f top5=%.4f macro-F1=%.4f", name, results["loss"], results["accuracy"],
             results.get("top5", math.nan), macro_f1)
    worst = sorted(report, key=lambda r: r["f1"])[:3]
    log.info("%s: weakest classes %s", name, ", ".join(f"{r['class']} ({r['f1']:.2f})" for r in worst))
    return {**{k: float(v) for k, v in results.items()}, "macro_f1": macro_f1}


def sanity_check_train_vs_eval(model, train_ds, steps: int = 5) -> None:
    """Accuracy on training batches, measured in inference mode: should be close to fit()'s."""
    metric = keras.metrics.SparseCategoricalAccuracy()
    for images, labels in train_ds.take(steps):
        metric.update_state(labels, model(images, training=False))
    log.info("inference-mode accuracy on %d training batches: %.4f", steps, float(metric.result()))


# ----------------------------------------------------------------------------- main

def save_artifacts(model: keras.Model, out: Path, classes: list[str], history: dict, metrics: dict, args) -> None:
    model.save(out / "model.h5")
    model.save(out / "model.keras")
    (out / "labels.json").write_text(json.dumps({i: c for i, c in enumerate(classes)}, indent=2))
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "classes": classes,
        "metrics": metrics,
        "history": {stage: {k: [float(x) for x in v] for k, v in h.items()} for stage, h in history.items()},
        "tensorflow": tf.__version__,
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("saved model and reports to %s", out)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.out, args.verbose)
    seed_everything(args.seed)
    strategy = configure_devices(args.mixed_precision)
    log.info("TensorFlow %s, %d replica(s)", tf.__version__, strategy.num_replicas_in_sync)

    classes = list_classes(args.data_dir / "train")
    counts = count_images(args.data_dir / "train", classes)
    log.info("%d classes, %d training images: %s", len(classes), sum(counts.values()), dict(counts))
    train_ds, val_ds, test_ds = make_datasets(args, classes)
    class_weight = compute_class_weights(counts, classes) if args.class_weights else None

    with strategy.scope():
        model, base_model = build_model(len(classes), args)
        compile_model(model, args.lr, args.label_smoothing, len(classes))
    model.summary(print_fn=log.debug)
    log.info("trainable weights: %d, non-trainable: %d", len(model.trainable_weights),
             len(model.non_trainable_weights))

    # stage 1: the head only
    history = {}
    h1 = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=args.epochs,
        class_weight=class_weight,
        callbacks=make_callbacks(args.out, "head", args.patience),
        verbose=2 if args.verbose else 1,
    )
    history["head"] = h1.history
    sanity_check_train_vs_eval(model, train_ds)

    # stage 2: fine-tune the top of the base with a small learning rate
    if args.fine_tune_epochs > 0:
        with strategy.scope():
            unfreeze_top(base_model, args.fine_tune_at)
            compile_model(model, args.fine_tune_lr, args.label_smoothing, len(classes))
        initial_epoch = len(h1.history["loss"])
        h2 = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=initial_epoch + args.fine_tune_epochs,
            initial_epoch=initial_epoch,
            class_weight=class_weight,
            callbacks=make_callbacks(args.out, "fine_tune", args.patience),
            verbose=2 if args.verbose else 1,
        )
        history["fine_tune"] = h2.history
        sanity_check_train_vs_eval(model, train_ds)

    metrics = {"val": evaluate(model, val_ds, classes, args.out, "val")}
    if test_ds is not None:
        metrics["test"] = evaluate(model, test_ds, classes, args.out, "test")
    save_artifacts(model, args.out, classes, history, metrics, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
