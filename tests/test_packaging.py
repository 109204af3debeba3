"""The project installs for real: a wheel carries the app, the prompt templates and the sample
library, so a plain `pip install .` runs `papers ui`, prompts and `--with-sample` from any folder."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import PROJECT_DIR


def test_the_wheel_holds_the_app_the_prompts_and_the_sample(tmp_path: Path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(PROJECT_DIR)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("papers-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    prompts = {path.name for path in (PROJECT_DIR / "prompts").glob("*.txt")}
    assert prompts and {f"rag/templates/{name}" for name in prompts} <= names
    views = {path.name for path in (PROJECT_DIR / "ui" / "views").glob("*.py")}
    assert {"rag/ui/app.py", "rag/ui/common.py", *(f"rag/ui/views/{name}" for name in views)} <= names
    assert "rag/sample/hf_papers.txt" in names
    assert {"rag/cli/__init__.py", "rag/readers/__init__.py", "rag/service/routers/answers.py"} <= names
    assert not any(name.startswith(("tests/", "benchmarks/", "ui/", "prompts/")) for name in names)
