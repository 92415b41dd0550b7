"""The Makefile: a wrong Python is named before anything is made; `make dev` installs only
what serving needs."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_old_python_is_named_and_leaves_no_environment(tmp_path: Path) -> None:
    old = tmp_path / "python3.10"
    old.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "Python 3.10.12"; exit 0; fi\n'
        "exit 1\n"  # what `python3.10 -c 'sys.exit(sys.version_info < (3, 11))'` does
    )
    old.chmod(0o755)
    venv = tmp_path / "env" / ".venv"
    result = make("demo", f"PYTHON={old}", f"VENV={venv}")
    assert result.returncode != 0
    assert "needs Python 3.11 or newer" in result.stdout
    assert "Python 3.10.12" in result.stdout and "PYTHON=python3.12" in result.stdout
    assert not venv.exists()  # so the next `make demo` with a good Python starts clean


def test_a_missing_python_is_named_in_one_clear_line(tmp_path: Path) -> None:
    result = make("demo", "PYTHON=no-such-python", f"VENV={tmp_path / '.venv'}")
    assert result.returncode != 0
    assert result.stdout.splitlines()[0] == (
        "langgraph-parallel needs Python 3.11 or newer, and 'no-such-python' was not found; "
        "pass one, e.g. make demo PYTHON=python3.12"
    )
    assert "/bin/sh" not in result.stdout + result.stderr
    assert not (tmp_path / ".venv").exists()


def test_make_clean_removes_what_the_commands_wrote(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "Makefile").write_text((ROOT / "Makefile").read_text())
    written = [".venv", ".pytest_cache", ".langgraph_api", ".langgraph-parallel", ".hypothesis"]
    for name in written:
        (root / name).mkdir()
        (root / name / "something").write_text("x")
    (root / "kept.txt").write_text("mine")
    done = subprocess.run(
        ["make", "--no-print-directory", "clean"], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in root.iterdir()) == ["Makefile", "kept.txt"]


def test_make_dev_installs_only_the_serve_extra(tmp_path: Path) -> None:
    planned = make("-n", "dev", f"VENV={tmp_path / '.venv'}").stdout
    assert "-e '.[serve]'" in planned and "[dev]" not in planned
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert [d for d in extras["serve"] if d.startswith("langgraph-cli")]
    assert not [d for d in extras["serve"] if d.startswith(("pytest", "mypy", "ruff"))]
