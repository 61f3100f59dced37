"""The import direction of STYLE.md section 1: imports point down the pipeline, never up."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "symbackprop"

# Stage of each module (lower imports nothing higher). errors, rulebook, printing, codegen and
# validate are model-layer helpers; evaluation and equations belong to the derivation engine;
# text renders plain text of a derivation.
STAGE = {
    "errors": 0, "rulebook": 0, "notation": 0, "functions": 0, "activations": 0, "losses": 0,
    "parsing": 0, "network": 0, "spec": 0, "spec_source": 0, "spec_data": 0, "printing": 0,
    "parsing_limits": 0,
    "codegen": 0, "validate": 0, "files": 0, "registry": 0, "architecture": 0,
    "rules": 1, "derive": 1, "derivation": 1, "evaluation": 1, "equations": 1,
    "numeric": 2, "train": 2,
    "gradcheck": 3, "checker": 3, "mistakes": 3, "mistake_catalogue": 3,
    "report": 4, "rendering": 4, "diagrams": 4, "worksheet": 4, "text": 4, "variants": 4,
    "grading": 4, "questions": 4, "feedback": 4, "worksheet_render": 4, "worksheet_spec": 4,
    "step_program": 4, "known_mistakes": 4, "worksheet_notebook": 4, "worksheet_build": 4,
    "cli": 5, "cli_worksheet": 5, "__init__": 5, "__main__": 5,
}  # fmt: skip
# Derivation's to_latex/to_markdown/to_text and the Jupyter _repr_*_ methods of Derivation and
# Network hand over to the renderers on call: the only upward imports allowed, made inside the
# method so that derive.py and network.py never load a renderer when they are imported.
ALLOWED_UPWARD = {
    ("derivation", "text"),
    ("derivation", "report"),
    ("network", "diagrams"),
    ("network", "report"),
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Return (imported symbackprop module, at module level?) for each import in a file."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "symbackprop":
                names = [alias.name for alias in node.names]
            elif node.module.startswith("symbackprop."):
                names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("symbackprop.")]
        found += [(name, id(node) in top_level) for name in names]
    return found


def test_every_module_has_a_stage():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules <= set(STAGE), f"give these modules a stage: {modules - set(STAGE)}"


def test_imports_point_down_the_pipeline():
    violations = []
    for path in PACKAGE.glob("*.py"):
        module = path.stem
        for imported, at_module_level in _imports(path):
            if imported not in STAGE:
                continue
            upward = STAGE[imported] > STAGE[module]
            if upward and (at_module_level or (module, imported) not in ALLOWED_UPWARD):
                violations.append(f"{module} imports {imported}")
    assert not violations, violations


def test_jinja_only_in_rendering_and_numpy_nowhere_in_derive():
    for path in PACKAGE.glob("*.py"):
        source = path.read_text()
        if "jinja2" in source:
            assert STAGE[path.stem] >= 4, f"{path.stem} imports jinja2"
    for module in ("derive.py", "derivation.py"):
        assert "import numpy" not in (PACKAGE / module).read_text()
    assert "report" not in {name for name, _ in _imports(PACKAGE / "numeric.py")}
