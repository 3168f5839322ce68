"""Apply the lead's decisions on the second pass's disagreements (kept as a record of what changed).

Each decision: label file, entry id, new values, and why. Run once after a review round; it is
idempotent. Entries removed as duplicates are dropped.
"""
import pathlib

import yaml

HERE = pathlib.Path(__file__).resolve().parent
DECISIONS = [
    ("gatherer-legacy.yaml", "krzesu0-widzenie-komputerowe-projekt--train_mobile", {"era": "tf2"},
     "reviewer-1: fit(use_multiprocessing=, workers=) and a weights-only ModelCheckpoint fail on Keras 3"),
    ("gatherer-notebooks.yaml", "ivplatnu-deepcovidxr-pretrain-py", {"expected": ["BN002"]},
     "reviewer-1: InceptionResNetV2 has 780 layers; layers[:428] frozen leaves BN in [428:] training"),
    ("gatherer-notebooks.yaml", "jeffheaton-t81-558-deep-learning-t81-558-class-09-2-keras-xfer-cv-ipynb",
     {"era": "tf2", "expected": []},
     "reviewer-1: the UTF-16 environment.yml pins tensorflow-gpu==2.8.0: nested training=False holds on tf2"),
    ("gatherer-modern.yaml", "adhishekar07-ml-journey-adhi-day25-day25-transfer-learning-pneumonia-detection-py",
     {"era": "keras3"}, "reviewer-2: tf.keras of TF 2.21 still has ImageDataGenerator"),
    ("gatherer-modern.yaml", "jusupm-x-ray-pneumonia-classification-main-py", {"era": "keras3"},
     "reviewer-2: tf.keras of TF 2.21 still has ImageDataGenerator"),
    ("gatherer-modern.yaml", "harishnandhan-pneumothorax-segmentation-model-py", {"era": "keras3"},
     "reviewer-2: tf.keras of TF 2.21 still has ImageDataGenerator"),
    ("gatherer-modern.yaml", "chiemahp-streamlitapp-train-model-py", {"era": "keras3"},
     "reviewer-2: unpinned tensorflow; tf.keras still has ImageDataGenerator"),
    ("gatherer-modern.yaml", "ak47-aiml-transferlearning-finetuning-transferlearning-finetuning-ipynb", {"era": "keras3"},
     "reviewer-2: tf.keras of TF 2.21 still has ImageDataGenerator"),
    ("gatherer-topup-b.yaml", "adhishekar07-ml-journey-adhi-day25-day25-transfer-learning-pneumonia-detection-py",
     {"era": "keras3"}, "reviewer-2"),
]
DECISIONS += [
    ("gatherer-topup-c.yaml", "mpolinowski-tf-cats-n-dogs--main", {"era": "keras3"},
     "reviewer-3: tf.keras of TF 2.21 still has ImageDataGenerator; no pins"),
    ("providers.yaml", "aishwarya-netha-autism-detection--efficientnet-b0-4-load-model-py", {"era": "tf2"},
     "reviewer-3: a sibling cell uses tf.keras.optimizers.legacy (TF 2.11-2.15)"),
    ("providers.yaml", "keras-team-keras-cv--examples-training-object-detection-pascal-voc-retinanet-py",
     {"era": "keras3"}, "reviewer-3: requirements.txt pins tensorflow-cpu>=2.16.1"),
]
DECISIONS += [
    ("gatherer-topup-d.yaml", "nat06-navigation-assistance--tf-training", {"era": "tf1"},
     "reviewer-d: tf.Session() / K.get_session() / tf.global_variables_initializer() at top level (TF 1.x only)"),
    ("gatherer-notebooks.yaml", "ivplatnu-deepcovidxr-pretrain-py",
     {"why": "getNihModel builds the chosen model flattened and freezes it in place: for Inception-ResNet-V2 "
             "`model.layers[:428]` frozen / `[428:]` trainable of 780 layers, so the top BN layers train while "
             "the rest is frozen during the one fit_generator (BN002)"},
     "lead: the why described the labeller's first reading, not the adjudicated label"),
]
DUPLICATES = [("gatherer-notebooks.yaml", "lebron-jian-deeplearningnote-keraslearningnote-kerascode-4-keras-finetuneinceptionv3-py"),
              ("gatherer-notebooks.yaml", "ivplatnu-deepcovidxr-train-py")]


def main():
    files = {}
    for name in {d[0] for d in DECISIONS} | {d[0] for d in DUPLICATES}:
        files[name] = yaml.safe_load((HERE / "labels" / name).read_text())
    for name, entry_id, changes, why in DECISIONS:
        for entry in files[name]:
            if entry["id"] == entry_id:
                entry.update(changes)
                entry["check"] = dict(entry.get("check") or {}, decided="lead: " + why)
    for name, entry_id in DUPLICATES:
        files[name] = [e for e in files[name] if e["id"] != entry_id]
    for name, entries in files.items():
        (HERE / "labels" / name).write_text(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=120))


if __name__ == "__main__":
    main()
