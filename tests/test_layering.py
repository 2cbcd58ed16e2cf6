"""The layering is a test: import-linter's contract (.importlinter) holds, and it catches a break.

`make test` runs `lint-imports` in its lint step too; these tests keep the contract in the suite
(CI runs both) and prove it can fail. The root scripts are not packages, so import-linter does
not see them: a small AST check keeps them on the faces of core's packages.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SHELL_SCRIPTS = ("app.py", "api_service.py", "scheduler_service.py")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (requirements-dev.txt)"
)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    copy.mkdir()
    shutil.copy(ROOT / ".importlinter", copy)
    for package in ("core", "api", "views", "ui"):
        shutil.copytree(
            ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return copy


def test_the_import_contract_holds() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/campaigns/_templates.py", "import streamlit", "core/ imports no UI"),
        ("core/contacts/_phones.py", "from core import campaigns", "in layers"),
        (
            "core/tracking/_dashboard.py",
            "from core.sending._claims import Claim",
            "private modules",
        ),
        ("ui/session.py", "from ui import auth", "nor between the modules of ui"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = copy_of_the_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_the_root_scripts_use_only_the_faces_of_core(script: str) -> None:
    tree = ast.parse((ROOT / script).read_text())
    imported = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core")
    ]
    private = [name for name in imported if any(part.startswith("_") for part in name.split("."))]
    assert imported, f"{script} imports nothing from core?"
    assert private == []


def _status_writes(tree: ast.AST) -> list[int]:
    """Lines that write a campaign's status: `.values(status=…)` on an UPDATE of campaigns (or a
    compare_and_set), and `<campaign>.status = …` assignments."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "values":
            chain = ast.unparse(node.func.value)
            writes_status = any(keyword.arg == "status" for keyword in node.keywords)
            if writes_status and ("Campaign)" in chain or "compare_and_set" in chain):
                lines.append(node.lineno)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "status"
                    and "campaign" in ast.unparse(target.value).lower()
                ):
                    lines.append(node.lineno)
    return lines


def test_only_the_life_cycle_changes_a_campaigns_status() -> None:
    """One owner: every status change of a campaign is in core/campaigns/_lifecycle/."""
    owner = ROOT / "core" / "campaigns" / "_lifecycle"
    elsewhere = {
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("core", "api", "views", "ui")
        for path in (ROOT / package).rglob("*.py")
        if owner not in path.parents
        for line in _status_writes(ast.parse(path.read_text()))
    }
    inside = [
        line for path in owner.glob("*.py") for line in _status_writes(ast.parse(path.read_text()))
    ]
    assert elsewhere == set()
    assert inside, "the scan finds nothing at all: it would not notice a write elsewhere either"
