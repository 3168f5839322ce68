import pytest

from bnlint.pins import pins_in_text, target_for_script
from bnlint.target import Semantics, from_keras_version, parse_target


@pytest.mark.parametrize("version, semantics, ambiguous", [
    ("2.0.8", Semantics.STANDALONE_2_0, False),
    ("2.1.2", Semantics.STANDALONE_2_0, False),
    ("2.1.3", Semantics.STANDALONE_2_1_3, False),
    ("2.2.4", Semantics.STANDALONE_2_1_3, False),
    ("2.3.1", Semantics.STANDALONE_2_1_3, False),
    ("2.2.4-tf", Semantics.TF1, True),     # TF 1.13-1.15 and early TF 2 both wrote it
    ("2.3.0-tf", Semantics.TF2, False),
    ("2.4.0", Semantics.TF2, False),       # keras 2.4+ is tf.keras
    ("2.21.0", Semantics.TF2, False),      # tf_keras
    ("3.0.0", Semantics.KERAS3_OLD, False),
    ("3.15.1", Semantics.KERAS3_OLD, False),
    ("3.16.0", Semantics.KERAS3_NEW, False),
])
def test_semantics_from_a_model_files_keras_version(version, semantics, ambiguous):
    target = from_keras_version(version)
    assert target.semantics is semantics
    assert target.ambiguous is ambiguous
    assert version in target.source


@pytest.mark.parametrize("text, semantics", [
    ("tf1", Semantics.TF1), ("keras3<3.16", Semantics.KERAS3_OLD), ("keras3>=3.16", Semantics.KERAS3_NEW),
    ("standalone-2.1.3+", Semantics.STANDALONE_2_1_3), ("standalone-2.0", Semantics.STANDALONE_2_0),
    ("2.2.4", Semantics.STANDALONE_2_1_3), ("2.2.4-tf", Semantics.TF1), ("tf-2.15", Semantics.TF2),
    ("tensorflow==2.16", Semantics.KERAS3_OLD), ("tf_keras", Semantics.TF2), ("3.16.1", Semantics.KERAS3_NEW),
])
def test_explicit_targets_parse_and_are_never_ambiguous(text, semantics):
    target = parse_target(text)
    assert target.semantics is semantics and not target.ambiguous


def test_an_unknown_target_names_the_choices():
    with pytest.raises(ValueError, match="keras3<3.16"):
        parse_target("pytorch")


def test_what_each_target_allows():
    standalone, tf2, old3, new3 = (parse_target(t) for t in ("2.2.4", "tf2", "3.15.1", "3.16.0"))
    assert standalone.legacy and not standalone.nested_call_accepts_training
    assert not tf2.legacy and tf2.honours_nested_training_false_when_trainable
    assert not old3.honours_nested_training_false_when_trainable   # keras-team/keras#20285
    assert new3.honours_nested_training_false_when_trainable


@pytest.mark.parametrize("filename, text, semantics", [
    ("requirements.txt", "numpy\nkeras==2.2.4\ntensorflow-gpu==1.15\n", Semantics.STANDALONE_2_1_3),
    ("requirements-dev.txt", "tensorflow-gpu>=1.14,<2\n", Semantics.TF1),
    ("requirements.txt", "tensorflow==2.12.0\n", Semantics.TF2),
    ("requirements.txt", "tensorflow==2.17.0\n", Semantics.KERAS3_OLD),
    ("requirements.txt", "tensorflow==2.17.0\ntf-keras==2.17.0\n", Semantics.TF2),
    ("pyproject.toml", '[project]\ndependencies = ["keras>=3.16.0", "numpy"]\n', Semantics.KERAS3_NEW),
    ("pyproject.toml", '[tool.poetry.dependencies]\npython = "^3.7"\nkeras = "^2.3.1"\n', Semantics.STANDALONE_2_1_3),
    ("setup.cfg", "[options]\ninstall_requires =\n    keras==2.1.6\n", Semantics.STANDALONE_2_1_3),
    ("setup.py", "setup(install_requires=['tensorflow==1.15.5'])\n", Semantics.TF1),
    ("environment.yml", "dependencies:\n  - python=3.6\n  - keras=2.0.8\n", Semantics.STANDALONE_2_0),
])
def test_script_target_comes_from_the_projects_pins(tmp_path, filename, text, semantics):
    (tmp_path / ".git").mkdir()
    (tmp_path / filename).write_text(text)
    script = tmp_path / "src" / "train.py"
    script.parent.mkdir()
    script.write_text("pass\n")
    target = target_for_script(script)
    assert target is not None and target.semantics is semantics
    assert filename.split("/")[-1] in target.source


def test_pins_stop_at_the_repository_root(tmp_path):
    (tmp_path / "requirements.txt").write_text("keras==2.2.4\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "train.py").write_text("pass\n")
    assert target_for_script(repo / "train.py") is None


def test_unpinned_and_upper_bound_only_requirements_give_no_target():
    assert pins_in_text("keras\ntensorflow<3\nkeras-applications==1.0.8\n") == {}


@pytest.mark.parametrize("text, expected", [
    ("keras>=2.4.3\n", {}),                                  # spans Keras 2 and Keras 3: no pin
    ("tensorflow>=2.0\n", {}),
    ("tensorflow-gpu>=1.14,<2\n", {"tensorflow": "1.14"}),    # bounded: the series
    ("keras>=3.2\n", {"keras": "3.2"}),                      # every later release is Keras 3
    ("tensorflow>=2.16\n", {"tensorflow": "2.16"}),
])
def test_a_lower_bound_pins_only_when_every_later_release_agrees(text, expected):
    assert pins_in_text(text) == expected


def test_pins_give_each_import_its_own_keras():
    from bnlint.pins import targets_from_pins

    found = targets_from_pins({"keras": "2.3.1", "tensorflow": "2.0.0"}, "requirements.txt")
    assert found["keras"].semantics is Semantics.STANDALONE_2_1_3
    assert found["tensorflow.keras"].semantics is Semantics.TF2
    # a standalone keras pin alone says nothing of the TensorFlow beside it
    assert "tensorflow.keras" not in targets_from_pins({"keras": "2.2.4"}, "requirements.txt")
    assert targets_from_pins({"keras": "2.11.0"}, "requirements.txt")["tensorflow.keras"].semantics is Semantics.TF2
