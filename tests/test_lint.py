"""The code, the tests, the benchmarks and the notebooks pass ruff (its configuration: pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_is_clean():
    # Through this interpreter, so the ruff of the test environment runs, not whatever is on PATH.
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"ruff check . found problems (fix them, or `ruff check --fix`):\n{done.stdout}" \
                                 f"{done.stderr}"
