"""The floors of the package: arrows point down, and a config is checked without torch.

``report/`` stands on top and reads files; the training modules never import it, and it imports
none of them. Checking a config, ``--help`` and a refused override load neither torch nor the
report's or the search's libraries.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO as ROOT

PACKAGE = ROOT / "mnist_sweep"
TRAINING = ("models", "engine", "run", "data", "augment", "machine", "trace")
HEAVY = ("torch", "pandas", "optuna", "matplotlib", "jinja2")


def imported_modules(path: Path) -> set[str]:
    """Every ``mnist_sweep`` module a source file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m.startswith("mnist_sweep")}


def loaded_after(code: str) -> set[str]:
    """The top-level packages and ``mnist_sweep`` modules a fresh interpreter holds after
    running ``code``."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {m for m in out if "." not in m or m.startswith("mnist_sweep")}


def test_no_module_below_the_report_imports_it():
    top = {"__main__.py", "callbacks.py", "confirm.py", "export/__main__.py"}  # entry points
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "report" or str(rel) in top:
            continue
        assert not {m for m in imported_modules(path) if m.startswith("mnist_sweep.report")}, rel


def test_the_report_imports_no_training_module():
    training = {f"mnist_sweep.{name}" for name in TRAINING}
    for path in (PACKAGE / "report").rglob("*.py"):
        assert not imported_modules(path) & training, path.relative_to(PACKAGE)


@pytest.mark.parametrize("module", ["config", "run", "models"])
def test_the_training_floors_load_neither_the_report_nor_its_libraries(module):
    loaded = loaded_after(f"import mnist_sweep.{module}")
    assert not loaded & {"mnist_sweep.report", "pandas", "matplotlib", "jinja2", "optuna"}


def test_checking_a_config_loads_no_torch():
    code = (
        "from hydra import compose, initialize_config_dir\n"
        "from mnist_sweep.config import validate\n"
        f"with initialize_config_dir(config_dir={str(ROOT / 'conf')!r}, version_base=None):\n"
        "    validate(compose('config', overrides=['aug=[rotate,affine]', 'model=ref3762']))\n"
    )
    assert not loaded_after(code) & set(HEAVY)


def test_the_report_loads_no_torch_and_no_training_module():
    loaded = loaded_after("import mnist_sweep.report, mnist_sweep.report.__main__")
    assert "torch" not in loaded
    assert not loaded & {f"mnist_sweep.{name}" for name in TRAINING}


@pytest.mark.parametrize(
    "args", [["--help"], ["model.widths=abc", "hydra.run.dir={tmp}/run"]], ids=["help", "refused"]
)
def test_help_and_a_refused_override_load_no_heavy_library(args, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in args]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mnist_sweep", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == (0 if argv == ["--help"] else 2), done.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not imported & set(HEAVY)
