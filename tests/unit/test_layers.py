"""The package's layers import only downwards (the contract is in .importlinter)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_layers_import_only_downwards() -> None:
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
