"""The command line as a user sees it: exit codes, selection, config, formats, discovery."""
import json
import os
from pathlib import Path

import pytest

from bnlint.config import Selection

ALL = ("BN001", "BN002", "BN003", "BN101", "BN102", "BN900", "BN901")


@pytest.mark.parametrize("select, extend, ignore, expected", [
    (("BN",), (), (), set(ALL)),
    (("BN1",), (), (), {"BN101", "BN102"}),
    (("BN",), (), ("BN1",), {"BN001", "BN002", "BN003", "BN900", "BN901"}),
    (("BN101",), (), ("BN1",), {"BN101"}),              # the more specific select wins
    (("BN1",), (), ("BN101",), {"BN102"}),
    (("BN0",), ("BN901",), (), {"BN001", "BN002", "BN003", "BN901"}),
    (("BN001",), (), ("BN001",), set()),                # equal specificity: ignore wins
])
def test_selection_uses_prefixes_with_the_most_specific_winning(select, extend, ignore, expected):
    assert Selection(select, extend, ignore).enabled(ALL) == expected


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path):
    """A folder with one unreadable model (BN900) and one unsupported file passed explicitly."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "broken.h5").write_bytes(b"not an hdf5 file at all")
    return tmp_path


def test_exit_codes_zero_clean_one_findings_two_usage(run_cli, tmp_path, project):
    write(tmp_path / "clean" / "notes.py", "print('no keras here')\n")
    assert run_cli("--no-config", tmp_path / "clean")[0] == 0
    code, out, _ = run_cli("--no-config", project / "models")
    assert code == 1 and "BN900" in out
    assert run_cli("--no-config", "--exit-zero", project / "models")[0] == 0
    code, _, err = run_cli("--no-config", "--select", "XY9", project)
    assert code == 2 and "unknown rule code or prefix 'XY9'" in err
    code, _, err = run_cli("--no-config", "--target-keras", "pytorch", project)
    assert code == 2 and "unknown Keras target" in err


def test_fail_on_threshold(run_cli, project):
    # BN900 is an error: it fails at every threshold
    assert run_cli("--no-config", "--fail-on", "error", project / "models")[0] == 1
    assert run_cli("--no-config", "--fail-on", "error", "--ignore", "BN900", project / "models")[0] == 0


def test_text_output_has_location_code_and_summary(run_cli, project):
    code, out, _ = run_cli("--no-config", project / "models" / "broken.h5")
    first = out.splitlines()[0]
    assert first.startswith(f"{project / 'models' / 'broken.h5'}: BN900 ")
    assert out.rstrip().endswith("Found 1 finding.")


def test_paths_are_shown_as_given(run_cli, project):
    code, out, _ = run_cli("--no-config", "models", cwd=project)
    assert out.startswith("models/broken.h5: BN900")   # a model file has no lines


def test_json_output_keys(run_cli, project):
    code, out, _ = run_cli("--no-config", "--output-format", "json", "models/broken.h5", "missing.py", cwd=project)
    data = json.loads(out)
    assert [d["path"] for d in data] == ["missing.py", "models/broken.h5"]
    for d in data:
        assert set(d) >= {"code", "name", "severity", "message", "path", "line", "column", "end_line",
                          "end_column", "cell", "layer", "fix", "url"}
        assert d["code"] == "BN900" and d["name"] == "unreadable-input" and d["severity"] == "error"
        assert (d["line"], d["column"]) == (1, 1) and d["cell"] is None and d["fix"] is None
    assert "no such file or directory" in data[0]["message"]


def test_output_file_and_env_default_format(run_cli, project):
    out_file = project / "report" / "bnlint.json"
    code, out, _ = run_cli("--no-config", "--output-file", out_file, "models", cwd=project,
                           env={"BNLINT_OUTPUT_FORMAT": "json"})
    assert code == 1 and out == ""
    assert json.loads(out_file.read_text())[0]["code"] == "BN900"


def test_bad_env_output_format_is_a_usage_error(run_cli, project):
    code, _, err = run_cli("--no-config", project, env={"BNLINT_OUTPUT_FORMAT": "xml"})
    assert code == 2 and "BNLINT_OUTPUT_FORMAT" in err


def test_nearest_pyproject_with_a_bnlint_table_wins(run_cli, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.bnlint]\nignore = ["BN9"]\n')
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.h5").write_bytes(b"junk")
    write(tmp_path / "b" / "pyproject.toml", '[tool.bnlint]\nselect = ["BN"]\n')
    (tmp_path / "b" / "broken.h5").write_bytes(b"junk")
    write(tmp_path / "c" / "pyproject.toml", '[project]\nname = "c"\n')   # no [tool.bnlint]: skipped
    (tmp_path / "c" / "broken.h5").write_bytes(b"junk")
    code, out, _ = run_cli(".", cwd=tmp_path)
    assert [line.split(":")[0] for line in out.splitlines() if "BN900" in line] == ["b/broken.h5"]
    code, out, _ = run_cli("--no-config", ".", cwd=tmp_path)
    assert out.count("BN900") == 3
    code, out, _ = run_cli("--config", tmp_path / "b" / "pyproject.toml", ".", cwd=tmp_path)
    assert out.count("BN900") == 3


def test_command_line_select_overrides_config(run_cli, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.bnlint]\nselect = ["BN0"]\n')
    (tmp_path / "broken.h5").write_bytes(b"junk")
    assert run_cli(".", cwd=tmp_path)[0] == 0
    assert run_cli("--select", "BN9", ".", cwd=tmp_path)[0] == 1
    assert run_cli("--extend-select", "BN900", ".", cwd=tmp_path)[0] == 1


@pytest.mark.parametrize("toml, message", [
    ('[tool.bnlint]\nselekt = ["BN1"]\n', "unknown key(s) in [tool.bnlint]: selekt"),
    ('[tool.bnlint]\nignore = ["BN777"]\n', "unknown rule code or prefix 'BN777'"),
    ('[tool.bnlint]\nignore = "BN1"\n', "ignore must be a list"),
    ('[tool.bnlint]\ntarget-keras = "2.9.9.9x"\n', "unknown Keras target"),
    ('[tool.bnlint]\nper-file-ignores = {"*.h5" = ["XX1"]}\n', "unknown rule code or prefix 'XX1'"),
    ('[tool.bnlint\n', "invalid TOML"),
    ('[tool.bnlint]\nmax-moving-variance = -3\n', "max-moving-variance must be a positive number"),
])
def test_bad_configuration_exits_2_with_a_clear_message(run_cli, tmp_path, toml, message):
    write(tmp_path / "pyproject.toml", toml)
    write(tmp_path / "x.py", "pass\n")
    code, out, err = run_cli(".", cwd=tmp_path)
    assert code == 2 and message in err and "Traceback" not in err


def test_per_file_ignores_for_model_files(run_cli, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.bnlint]\nper-file-ignores = {"legacy/*.h5" = ["BN9"]}\n')
    for name in ("legacy/old.h5", "current/new.h5"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"junk")
    code, out, _ = run_cli(".", cwd=tmp_path)
    assert "current/new.h5" in out and "legacy/old.h5" not in out


def test_exclude_skips_files_even_when_named_explicitly(run_cli, tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.bnlint]\nexclude = ["scratch"]\n')
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "tmp.h5").write_bytes(b"junk")
    assert run_cli(".", cwd=tmp_path)[0] == 0
    assert run_cli("scratch/tmp.h5", cwd=tmp_path)[0] == 0


def test_folder_walk_skips_hidden_venv_gitignored_and_takes_saved_model_folders(run_cli, tmp_path):
    for name in (".hidden/a.h5", "venv/lib/b.h5", "build_out/c.h5", "keep/d.h5", "keep/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"junk")
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / ".gitignore").write_text("build_out/\n")
    (tmp_path / "exported").mkdir()
    (tmp_path / "exported" / "saved_model.pb").write_bytes(b"junk")
    code, out, _ = run_cli("--no-config", "--output-format", "json", ".", cwd=tmp_path)
    assert sorted({d["path"] for d in json.loads(out)}) == ["exported", "keep/d.h5"]
    # pre-commit passes saved_model.pb: it means its folder
    code, out, _ = run_cli("--no-config", "--output-format", "json", "exported/saved_model.pb", cwd=tmp_path)
    assert [d["path"] for d in json.loads(out)] == ["exported"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loops_do_not_hang(run_cli, tmp_path):
    (tmp_path / "a").mkdir()
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    (tmp_path / "a" / "m.h5").write_bytes(b"junk")
    code, out, _ = run_cli("--no-config", "--output-format", "json", ".", cwd=tmp_path)
    assert [d["path"] for d in json.loads(out)] == ["a/m.h5"]


def test_rule_and_rules_commands(run_cli):
    code, out, _ = run_cli("rules")
    assert code == 0 and out.splitlines()[0].startswith("BN")
    assert "BN900  unreadable-input" in out
    code, out, _ = run_cli("rule", "bn900")
    assert code == 0 and "## What it does" in out and "## Why is this bad?" in out and "## Use instead" in out
    code, out, _ = run_cli("rule", "BN900", "--output-format", "json")
    assert json.loads(out)["name"] == "unreadable-input"
    code, _, err = run_cli("rule", "BN999")
    assert code == 2 and "unknown rule" in err


def test_version():
    from bnlint import __version__
    from conftest import run_bnlint_subprocess

    result = run_bnlint_subprocess("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"bnlint {__version__}"
