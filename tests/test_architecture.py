"""The layout: one subpackage per pipeline stage, imports down the pipeline, no import cycles.

The rules themselves live in pyproject.toml ([tool.importlinter]) and are checked by
import-linter; these tests run it, show that it catches a reversed import, and look for cycles
among all modules (function-level imports included, as grimp reads every import statement).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symbackprop"
STAGES = ("model", "derivation", "numeric", "checks", "render", "worksheets", "cli")
MAX_TOP_LEVEL_FILES = 4


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` with the package and the configuration found under ``root``."""
    command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is missing; pip install -e '.[test]' installs import-linter")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [command, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def test_lint_imports_keeps_every_contract():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_reversed_import_is_caught_even_inside_a_function(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "symbackprop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    network = tmp_path / "symbackprop" / "model" / "network.py"
    network.write_text(
        network.read_text()
        + "\n\ndef _reversed() -> None:\n    from symbackprop.render import report  # noqa: F401\n"
    )
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "symbackprop.model is not allowed to import symbackprop.render" in result.stdout
    assert "symbackprop.model.network -> symbackprop.render.report" in result.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = [stack.pop()]
            while component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_among_all_modules():
    graph = grimp.build_graph("symbackprop", include_external_packages=False, cache_dir=None)
    assert len(graph.modules) > 40
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_at_most_four_modules_sit_at_the_top_of_the_package():
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top_level) <= MAX_TOP_LEVEL_FILES, top_level


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_names_its_one_job(stage):
    docstring = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
    assert docstring, f"symbackprop/{stage}/__init__.py needs a docstring naming its job"


def test_tests_mirror_the_stages():
    tests = Path(__file__).resolve().parent
    missing = [stage for stage in STAGES if not list((tests / stage).glob("test_*.py"))]
    assert not missing, f"no tests/<stage>/ for {missing}"


def test_importing_the_package_registers_every_renderer():
    code = (
        "import symbackprop\n"
        "from symbackprop.model import display\n"
        "assert set(display.VIEWS) == set(display._RENDERERS), display._RENDERERS\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
