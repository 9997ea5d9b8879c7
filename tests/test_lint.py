"""One formatter truth: ``ruff check`` and ``ruff format --check`` pass on all Python in the repo
(the same commands as ``make lint``), so no formatter escapes or unformatted files creep in."""

from __future__ import annotations

import subprocess
import sys

import pytest

TARGETS = ["tsr_verl", "patches", "tests", "benchmarks", "recipes"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(repo_root, command):
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *TARGETS], cwd=repo_root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_no_formatter_escapes(repo_root):
    markers = ("fmt: " + "skip", "fmt: " + "off")
    marked = [
        str(p) for t in TARGETS for p in (repo_root / t).rglob("*.py") if any(m in p.read_text() for m in markers)
    ]
    assert not marked, marked
