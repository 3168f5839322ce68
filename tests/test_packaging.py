"""What a new user gets from `pip install .`: a TF-free CLI whose catalogue ships in the wheel."""
import subprocess
import sys
import venv

import pytest

from conftest import FIXTURES, ROOT

# The check path imports neither a framework nor the editor/notebook integrations (bnlint[lsp], IPython).
HEAVY = ("tensorflow", "keras", "tf_keras", "torch", "pygls", "lsprotocol", "IPython")


def test_importing_the_cli_and_checking_every_fixture_never_imports_tensorflow(tmp_path):
    code = (
        "import sys, bnlint.cli\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in %r]\n"
        "assert not heavy, heavy\n"
        "rc = bnlint.cli.main(['--no-config', '--exit-zero', '--output-format', 'json', '--output-file', %r, %r])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in %r]\n"
        "assert not heavy, heavy\n"
        "assert 'h5py' in sys.modules and 'bnlint.script.collector' in sys.modules, 'fixtures were not analysed'\n"
        "print('ok', rc)\n"
    ) % (HEAVY, str(tmp_path / "out.json"), str(FIXTURES), HEAVY)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"BNLINT_JOBS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 0")


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """bnlint built as a wheel and installed into a fresh virtualenv (no checkout on sys.path)."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
                           capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stderr[-2000:]}")
    wheel = next((work / "dist").glob("bnlint-*.whl"))
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True)
    if install.returncode != 0:
        pytest.fail(f"installing the wheel failed:\n{install.stderr[-2000:]}")
    return work / "venv" / "bin", work


def test_installed_wheel_serves_version_rules_and_rule_docs(wheel_venv):
    bin_dir, work = wheel_venv
    run = lambda *a: subprocess.run([str(bin_dir / "bnlint"), *a], capture_output=True, text=True, cwd=work)
    assert run("--version").stdout.strip().startswith("bnlint ")
    rules = run("rules")
    assert rules.returncode == 0 and "BN102" in rules.stdout and "BN001" in rules.stdout
    doc = run("rule", "BN102")
    assert doc.returncode == 0 and "## What it does" in doc.stdout
    python = bin_dir / "python"
    check = subprocess.run([str(python), "-c", "import sys, bnlint.cli; assert not any(m.startswith(('tensorflow','keras','tf_keras')) for m in sys.modules)"],
                           capture_output=True, text=True, cwd=work)
    assert check.returncode == 0, check.stderr
    # the wheel's runtime dependencies are exactly the light ones
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True).stdout.lower()
    assert "h5py" in freeze and "pyyaml" in freeze
    assert "libcst" in freeze              # the fixes' codemods (imported only when fixing)
    assert "tensorflow" not in freeze and "keras" not in freeze.replace("bnlint", "")


def test_python_dash_m_works(wheel_venv):
    bin_dir, work = wheel_venv
    result = subprocess.run([str(bin_dir / "python"), "-m", "bnlint", "--version"], capture_output=True, text=True, cwd=work)
    assert result.returncode == 0 and result.stdout.startswith("bnlint ")


def test_server_without_the_lsp_extra_says_what_to_install(wheel_venv):
    bin_dir, work = wheel_venv
    result = subprocess.run([str(bin_dir / "bnlint"), "server"], capture_output=True, text=True, cwd=work,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "pip install 'bnlint[lsp]'" in result.stderr
