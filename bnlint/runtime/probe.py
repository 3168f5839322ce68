"""`bnlint probe MODEL --data DATA`: run the model in training mode and in inference mode on real data.

Order matters for safety: the model file is first read statically (no code runs), a Lambda layer is
refused unless --unsafe-load, and only then does Keras load it (Keras 3 with safe_mode). The file is
opened for reading only. TensorFlow/Keras are imported after the arguments are parsed, so `--help`
and usage errors cost nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bnlint.errors import BnlintInputError, NoKerasConfig, UsageError
from bnlint.runtime.data import PREPROCESS_MODES
from bnlint.runtime.measure import DEFAULT_THRESHOLD
from bnlint.runtime.report import PLOT_SUFFIXES

EXIT_OK, EXIT_DIVERGED, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
Run MODEL on DATA in training mode and in inference mode and compare them BN layer by BN layer:
each layer's batch statistics against its moving statistics, the layer where the two modes part
ways, how often the predicted class differs, and how many updates the moving statistics still need.
Exit 1 when some BN layer that uses batch statistics in training mode is off by the threshold or more.

Loading a model runs Keras code, so the probe is opt-in: the file is read statically first and a
Lambda layer (arbitrary Python) is refused unless --unsafe-load; Keras 3 loads with safe_mode=True.
The model file is never written to. MODEL is loaded with the Keras installed beside bnlint (the `tf`
extra): Keras 3, or tf_keras when TF_USE_LEGACY_KERAS=1 (needed for a tf_keras SavedModel folder).
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bnlint probe", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", type=Path, help=".h5/.keras file or SavedModel folder")
    p.add_argument("--data", required=True, type=Path, metavar="DATA",
                   help="a .npy/.npz array of model inputs exactly as training feeds them (.npz: the array `x`), "
                        "or a folder of images")
    p.add_argument("--preprocess", choices=PREPROCESS_MODES, default="none",
                   help="for a folder of images: the keras.applications preprocess_input mode (default: none, "
                        "raw 0-255 pixels)")
    p.add_argument("--samples", type=int, default=64, metavar="N", help="inputs to use (default: 64)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help="batch size of the training-mode pass, as in training (default: 32)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="GAP",
                   help=f"gap (in standard deviations of a BN layer's training-mode output) from which a layer "
                        f"counts as diverged (default: {DEFAULT_THRESHOLD:g})")
    p.add_argument("--target-keras", metavar="VERSION",
                   help="the Keras the model is trained with, when not the one running here (e.g. 2.2.4: the "
                        "BN layers that train in its fit() are emulated); default: the file's writer if it is "
                        "standalone Keras 2 or TF 1.x, else the running Keras")
    p.add_argument("--output-format", choices=("text", "json"), default="text")
    p.add_argument("--output-file", type=Path, metavar="FILE", help="write the report to FILE")
    p.add_argument("--plot", type=Path, metavar="FILE", help="draw the gap per BN layer to FILE (.png, .svg, .pdf)")
    p.add_argument("--unsafe-load", action="store_true",
                   help="load models with Lambda layers (runs their code) and without Keras 3 safe_mode")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return _probe(args)
    except UsageError as e:
        sys.stderr.write(f"bnlint probe: error: {e}\n")
        return EXIT_USAGE


def _probe(args) -> int:
    from bnlint import catalogue
    from bnlint.context import RuleContext
    from bnlint.model import check_graph
    from bnlint.readers import read_model
    from bnlint.target import parse_target

    if args.samples < 1 or args.batch_size < 1:
        raise UsageError("--samples and --batch-size must be at least 1")
    if args.plot is not None and args.plot.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot FILE must end in {', '.join(PLOT_SUFFIXES)}")
    if not args.data.exists():
        raise UsageError(f"DATA not found: {args.data}")
    explicit = None
    if args.target_keras:
        try:
            explicit = parse_target(args.target_keras)
        except ValueError as e:
            raise UsageError(str(e)) from None
    display = str(args.model)

    # 1. Static read: no code from the file runs here.
    ctx = RuleContext(enabled=frozenset(c for c in catalogue.all_codes() if c.startswith("BN1")), target=explicit)
    try:
        graph = read_model(args.model, ctx)
    except NoKerasConfig as e:
        raise UsageError(f"{display} holds no Keras model config ({e.reason}): there is no Keras model to load") from None
    except BnlintInputError as e:
        raise UsageError(f"cannot read {display}: {e.reason}") from None
    lambdas = [layer.path for layer in graph.layers() if layer.class_name == "Lambda"]
    if lambdas and not args.unsafe_load:
        raise UsageError(f"{display} has Lambda layer(s) ({', '.join(lambdas[:3])}): loading it runs their Python "
                         "code. Refused; pass --unsafe-load if you trust the file")
    static = [f for f in check_graph(graph, ctx, display) if f.code.startswith("BN1")]

    # 2. Load with Keras.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")    # TensorFlow's C++ start-up chatter
    try:
        from bnlint.runtime.keras_env import installed_keras

        runtime = installed_keras()
    except ImportError as e:
        raise UsageError(f"bnlint probe needs TensorFlow and Keras ({e}): pip install 'bnlint[tf]'") from None
    model = _load(args.model, runtime, args.unsafe_load, graph.writer)
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise UsageError(f"the probe feeds one input array; {display} has {len(inputs)} inputs")

    from bnlint.runtime.data import load_inputs
    from bnlint.runtime.live_graph import graph_from_live_model
    from bnlint.runtime.measure import measure
    from bnlint.runtime.report import confirm, json_report, plot, text_report, verdict

    array = load_inputs(args.data, runtime, tuple(inputs[0].shape), samples=args.samples, preprocess=args.preprocess)
    batches = [array[i:i + size] for i, size in _batch_bounds(len(array), args.batch_size)]
    try:
        live = graph_from_live_model(model)
    except BnlintInputError as e:
        raise UsageError(f"{display}: {e.reason}") from None
    target = explicit or (graph.writer if graph.writer is not None and graph.writer.legacy else None)
    measurement = measure(live, batches, threshold=args.threshold, target=target)
    if graph.writer is not None and target is None and graph.writer.semantics is not runtime.target.semantics:
        measurement.notes.append(f"{display} was written by {graph.writer.label} ({graph.writer.source}); measured "
                                 f"as {runtime.label} runs it (set --target-keras to emulate another Keras)")
    confirmations = confirm(static, measurement)
    if args.output_format == "json":
        text = json_report(display, measurement, confirmations)
    else:
        text = text_report(display, measurement, confirmations)
    if args.output_file is not None:
        args.output_file.parent.mkdir(parents=True, exist_ok=True)
        args.output_file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot(measurement, args.plot, f"{display}: {verdict(measurement)}")
    return EXIT_DIVERGED if measurement.diverged else EXIT_OK


def _batch_bounds(total: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, size) of near-equal batches of at most batch_size (no 1-sample tail batch)."""
    count = -(-total // batch_size)
    base, extra = divmod(total, count)
    bounds, start = [], 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        bounds.append((start, size))
        start += size
    return bounds


def _load(path: Path, runtime, unsafe: bool, writer):
    """Load read-only with the installed Keras; every failure is a usage error naming the cause."""
    if runtime.keras3 and path.is_dir():
        raise UsageError(f"{path} is a SavedModel folder, which Keras 3 cannot load as a Keras model; run the "
                         "probe with TF_USE_LEGACY_KERAS=1 (tf_keras) for a tf_keras SavedModel")
    loader = runtime.module.saving.load_model if runtime.keras3 else runtime.module.models.load_model
    try:
        return loader(str(path), compile=False, safe_mode=not unsafe)
    except Exception as exc:  # noqa: BLE001 - Keras raises anything from ValueError to TypeError here
        hint = (" (a file written by Keras 2 may load with tf_keras: set TF_USE_LEGACY_KERAS=1)"
                if runtime.keras3 and writer is not None and not writer.keras3 else "")
        raise UsageError(f"{runtime.label} cannot load {path}{hint}: {type(exc).__name__}: {exc}") from None
