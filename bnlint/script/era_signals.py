"""The API a script uses that dates it: which Keras it was written for when nothing pins one.

One table, one row per signal, each with the source of the fact. The eras:

- ``tf1``: TensorFlow 1.x-only API (gone from the TF 2 namespace; `tf.compat.v1` spellings are not
  signals, they run on TF 2).
- ``keras2``: Keras 2-era API that Keras 3 removed, present in standalone Keras and in tf.keras 2.x /
  tf_keras alike (checked on Keras 3.15.1 and tf_keras 2.21 here).
- ``standalone``: API only standalone Keras <= 2.3 has (not the `keras` 2.4-2.15 package that
  TensorFlow 2 installs, not tf.keras 2.x).
- ``tf2keras``: API only the `keras` 2.6+ package / tf.keras 2.x has, never standalone Keras <= 2.3:
  with Keras 2-era API it says `import keras` is the package TensorFlow 2 installs.
- ``keras3``: API only Keras 3 has.
- ``python2``: the script is Python 2 source. Not a pattern: the script analyzer notes it when the
  file (or a notebook cell) parses only through python2.py's reading, or a notebook's kernel is
  Python 2.

A signal is a regular expression over one source line outside comments; `what` is how the
evidence reads in a finding's help; `words` are literal pieces of which every match holds one
(a substring test rules most files out a hundred times faster than the regular expressions).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class EraSignal:
    era: str
    what: str
    regex: str | None               # None: not seen in the text, noted by the analyzer
    source: str
    words: tuple[str, ...]          # every match contains one of these

    # Compiled on first use: most scripts rule most signals out by their words, and compiling
    # sixty expressions costs a one-file run several milliseconds of start-up.
    @functools.cached_property
    def quick(self) -> re.Pattern | None:
        """The pattern alone: a cheap first look before the anchored one."""
        return re.compile(self.regex, re.M) if self.regex is not None else None

    @functools.cached_property
    def pattern(self) -> re.Pattern | None:
        """Anchored at the line start through code that is not a comment or a string's text."""
        return re.compile(r"^[^#\n]*?" + self.regex, re.M) if self.regex is not None else None


def _signal(era: str, what: str, regex: str, source: str, *words: str) -> EraSignal:
    return EraSignal(era, what, regex, source, words)


_OPTIMIZERS = r"(?:Adam|SGD|RMSprop|Adagrad|Adadelta|Adamax|Nadam|Ftrl)"

SIGNALS: tuple[EraSignal, ...] = (
    # --- TensorFlow 1.x only ---------------------------------------------------------------
    _signal("tf1", "uses tf.Session", r"\btf\.(?:Session|InteractiveSession)\s*\(",
            "TF 2.0 removed tf.Session from the top-level namespace (tf.compat.v1.Session remains)", "Session"),
    _signal("tf1", "uses tf.placeholder", r"\btf\.placeholder\s*\(", "TF 2.0 API (tf.compat.v1.placeholder)",
            "tf.placeholder"),
    _signal("tf1", "uses tf.contrib", r"\btf\.contrib\b", "tf.contrib was removed in TF 2.0", "tf.contrib"),
    _signal("tf1", "uses tf.ConfigProto", r"\btf\.(?:ConfigProto|GPUOptions)\s*\(", "TF 2.0 API (tf.compat.v1.ConfigProto)",
            "ConfigProto", "GPUOptions"),
    _signal("tf1", "uses tf.global_variables_initializer",
            r"\btf\.(?:global_variables_initializer|set_random_seed|get_default_graph|reset_default_graph)\s*\(",
            "TF 2.0 API (moved to tf.compat.v1; tf.random.set_seed replaces set_random_seed)",
            "global_variables_initializer", "set_random_seed", "get_default_graph", "reset_default_graph"),
    _signal("tf1", "uses a tf.train optimizer",
            r"\btf\.train\.(?:Adam|GradientDescent|Momentum|RMSProp|Adagrad)Optimizer\b",
            "TF 2.0 API (tf.compat.v1.train.*Optimizer)", "tf.train."),
    _signal("tf1", "calls K.get_session()", r"(?<!v1\.keras\.)\b(?:K|backend)\.(?:get_session|set_session)\s*\(",
            "tf.keras 2.x has no backend.get_session/set_session (tf.compat.v1.keras.backend has); "
            "standalone Keras 2.x on TF 1.x does", "_session"),
    _signal("tf1", "runs disable_v2_behavior()", r"\bdisable_v2_behavior\s*\(",
            "keras-bn-semantics.md 1.3: under disable_v2_behavior() graph mode and load_model's V1 BN class",
            "disable_v2_behavior"),
    _signal("tf1", "selects TensorFlow 1.x (%tensorflow_version 1.x)", r"%tensorflow_version\s+1",
            "Colab magic that selected TF 1.x", "%tensorflow_version"),
    _signal("tf1", "installs TensorFlow 1.x", r"!.*\bpip3?\s+install\b.*\btensorflow(?:-gpu|-cpu)?\s*==\s*1\.",
            "a notebook shell install of tensorflow 1.x", "pip"),
    # --- Keras 2 era: removed in Keras 3 -----------------------------------------------------
    _signal("keras2", "calls fit_generator", r"\.(?:fit|evaluate|predict)_generator\s*\(",
            "Keras 3 Model has no fit_generator/evaluate_generator/predict_generator (checked on 3.15.1)",
            "_generator"),
    _signal("keras2", "passes lr= to an optimizer", _OPTIMIZERS + r"\s*\([^)\n]*\blr\s*=",
            "Keras 3 optimizers reject lr= (ValueError on 3.15.1); tf.keras 2.x accepted it", "lr"),
    # Only the plain `keras` spelling: TF 2.21's `tf.keras` (keras._tf_keras) still exports it.
    _signal("keras2", "imports keras.preprocessing.image.ImageDataGenerator",
            r"(?<![\w.])keras\.preprocessing\.image(?:\s+import\s+(?:\([^)]*)?[^\n]*\bImageDataGenerator\b|"
            r"\.ImageDataGenerator\b)",
            "keras.preprocessing.image has no ImageDataGenerator in Keras 3 (checked on 3.15.1; "
            "tf.keras.preprocessing.image of TF 2.21 still has it)", "keras.preprocessing.image"),
    _signal("keras2", "uses keras.utils.np_utils", r"(?:\butils\.np_utils\b|from\s+\S*utils\s+import\s+np_utils\b)",
            "keras.utils.np_utils is gone in Keras 3 (checked on 3.15.1)", "np_utils"),
    _signal("keras2", "calls predict_classes", r"\.predict_classes\s*\(",
            "Sequential.predict_classes was removed in TF 2.6 and never existed in Keras 3", ".predict_classes"),
    _signal("keras2", "calls set_learning_phase", r"\bset_learning_phase\s*\(",
            "keras.backend.set_learning_phase is gone in Keras 3 (checked on 3.15.1)", "set_learning_phase"),
    # --- standalone Keras <= 2.3 only ---------------------------------------------------------
    _signal("standalone", "calls Model(input=..., output=...)", r"\bModel\s*\(\s*input\s*=",
            "Keras 1 keywords: standalone Keras 2.x converted them; tf.keras 2.x raises TypeError "
            "('Keyword argument not understood: input', checked on tf_keras 2.21), Keras 3 ValueError", "Model"),
    _signal("standalone", "imports keras.engine", r"\bkeras\.engine\b", "keras.engine.topology/training: standalone Keras",
            "keras.engine"),
    _signal("standalone", "uses keras.backend.tensorflow_backend", r"\btensorflow_backend\b",
            "standalone Keras' backend modules (tf.keras has none)", "tensorflow_backend"),
    _signal("standalone", "uses the Theano/CNTK backend",
            r"(?:\btheano\b|\bcntk\b|image_dim_ordering|set_image_dim_ordering)",
            "Theano/CNTK and dim ordering exist only in standalone Keras", "theano", "cntk", "image_dim_ordering"),
    _signal("standalone", "imports keras.layers.normalization",
            r"from\s+keras\.layers\.normalization\s+import\s+BatchNormalization\b",
            "a module of standalone Keras <= 2.3 (a package without that name from keras 2.6 on)",
            "keras.layers.normalization"),
    _signal("standalone", "passes nb_epoch=", r"\b(?:nb_epoch|samples_per_epoch|nb_val_samples)\s*=",
            "Keras 1 argument names that standalone Keras 2.x still converted; tf.keras rejects them",
            "nb_epoch", "samples_per_epoch", "nb_val_samples"),
    _signal("standalone", "installs keras 2.x (<= 2.3)", r"!.*\bpip3?\s+install\b.*\bkeras\s*==\s*2\.[0-3]\b",
            "a notebook shell install of standalone Keras", "pip"),
    # --- keras 2.6+ package / tf.keras 2.x only --------------------------------------------------
    _signal("tf2keras", "uses image_dataset_from_directory", r"\bimage_dataset_from_directory\s*\(",
            "added in TF 2.3 tf.keras / keras 2.6+; standalone Keras <= 2.3 never had it",
            "image_dataset_from_directory"),
    _signal("tf2keras", "uses preprocessing layers (RandomFlip, Rescaling...)",
            r"\b(?:RandomFlip|RandomRotation|RandomZoom|RandomContrast|RandomTranslation|Rescaling)\s*\(",
            "Keras preprocessing layers: tf.keras 2.3+ (experimental), keras 2.6+; not standalone Keras",
            "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast", "RandomTranslation", "Rescaling"),
    _signal("tf2keras", "uses layers.experimental.preprocessing", r"\blayers\.experimental\.preprocessing\b",
            "tf.keras 2.2-2.x experimental preprocessing layers", "layers.experimental.preprocessing"),
    # --- Keras 3 only ----------------------------------------------------------------------------
    _signal("keras3", "uses keras.ops", r"\bkeras\.ops\b", "keras.ops is Keras 3's op namespace", "keras.ops"),
    _signal("keras3", "sets a JAX/PyTorch Keras backend", r"KERAS_BACKEND[\"']?\s*\]?\s*=\s*[\"'](?:jax|torch)",
            "only Keras 3 runs on JAX or PyTorch", "KERAS_BACKEND"),
    _signal("keras3", "imports keras_hub", r"^\s*(?:import|from)\s+keras_hub\b", "KerasHub requires Keras 3",
            "keras_hub"),
    # --- Python 2 ----------------------------------------------------------------------------------
    EraSignal("python2", "is Python 2 source", None,
              "TensorFlow 2.1 was the last release supporting Python 2 and TF 2.2 discontinued it (TF 2.1.0 "
              "and 2.2.0 release notes); multi-backend Keras <= 2.3 ran on Python 2.7; keras 2.4 raises 'Keras requires TensorFlow 2.2 or higher'. "
              "So `import keras` there is standalone Keras <= 2.3, `tf.keras` is TF 1.x or TF 2.0/2.1", ()),
)

# The Python 2 signal, noted by the analyzer (bnlint/script/python2.py reads such source).
PYTHON2_SOURCE = next(signal for signal in SIGNALS if signal.era == "python2")


def era_signals_in(text: str) -> list[EraSignal]:
    """The signals a script's text shows, in table order."""
    return [signal for signal in SIGNALS if any(word in text for word in signal.words)
            and signal.quick.search(text) and signal.pattern.search(text)]
