"""The import rules of docs/architecture.md (contracts in .importlinter), checked with import-linter.

Each rule is shown to bite: a copy of the packages with one forbidden import added breaks it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("webapp", "workers", "pricing_providers")
LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([LINT, "--no-cache", "--config", str(cwd / ".importlinter")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_import_rule():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, forbidden, contract", [
    ("webapp/domain/money.py", "import sqlalchemy", "The domain imports nothing of the app"),
    ("webapp/domain/valuation.py", "from webapp.services import cache", "The domain imports nothing of the app"),
    ("webapp/blueprints/portfolio.py", "import workers.prices", "Blueprints never import workers"),
    ("webapp/services/assets.py", "from workers import prices", "Nothing in webapp imports workers"),
    ("pricing_providers/yahoo.py", "import webapp.models", "Price providers import neither"),
    ("webapp/services/portfolio/history.py", "from webapp.web import forms", "Services know nothing of requests"),
])
def test_a_forbidden_import_breaks_its_rule(tmp_path, module, forbidden, contract):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{forbidden}  # added by the test\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in " ".join(broken.split()), result.stdout


def test_no_module_grows_past_400_lines():
    """A module that long does several things: split it (docs/architecture.md says where what lives)."""
    long = {str(p.relative_to(ROOT)): n for p in [*ROOT.glob("webapp/**/*.py"), *ROOT.glob("workers/**/*.py")]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}
