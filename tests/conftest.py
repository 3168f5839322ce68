import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run bnlint in-process: returns (exit code, stdout, stderr)."""
    from bnlint.cli import main

    def run(*argv, cwd=None, env=None):
        if cwd is not None:
            monkeypatch.chdir(cwd)
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    monkeypatch.delenv("BNLINT_OUTPUT_FORMAT", raising=False)
    monkeypatch.setenv("BNLINT_JOBS", "1")
    return run


def run_bnlint_subprocess(*argv, cwd=None, env=None, timeout=300):
    """Run `python -m bnlint` as a user would (separate process)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("BNLINT_OUTPUT_FORMAT", None) if "BNLINT_OUTPUT_FORMAT" not in (env or {}) else None
    return subprocess.run([sys.executable, "-m", "bnlint", *map(str, argv)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def json_findings(stdout: str):
    return json.loads(stdout)


# Fuzz tests: bounded in CI; `HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py` for a longer local run.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
