"""Start-up: `import symbackprop` loads no stage, `--version` and `--help` load no SymPy or NumPy.

The package imports each public name from its stage the first time it is used, and the command's
verbs import the engine when they run. Each test starts a fresh interpreter (the test process has
long since imported everything) and asks it which modules it loaded; none times anything.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import symbackprop as sb

ROOT = Path(__file__).resolve().parents[1]
# Needed by some verbs only: templates, plots, MathML, the optional backends, the test tools.
HEAVY = ("matplotlib", "jinja2", "markupsafe", "latex2mathml", "torch", "jax", "hypothesis")
ENGINE = ("sympy", "numpy")


def _loaded_by(code: str, packages: tuple[str, ...]) -> list[str]:
    """The top-level ``packages`` a fresh interpreter has imported after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(packages)!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.splitlines()[-1]))


def _modules_imported_by_command(*args: str) -> tuple[str, set[str]]:
    """Run ``python -X importtime -m symbackprop ARGS``; return its output and the modules."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "symbackprop", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result.stdout, modules


def test_importing_the_package_loads_no_stage():
    assert _loaded_by("import symbackprop", HEAVY + ENGINE) == []


def test_deriving_compiling_and_checking_load_none_of_the_heavy_modules():
    code = (
        "import numpy as np\n"
        "import symbackprop as sb\n"
        "net = sb.mlp([2, 2, 2], activation='sigmoid', loss='half_sse')\n"
        "params = {n: 0.1 * i for i, n in enumerate(net.parameter_names())}\n"
        "derivation = sb.derive(net)\n"
        "derivation.to_text(derivation.evaluate(params, (0.05, 0.1), (0.01, 0.99)))\n"
        "assert sb.gradcheck(net, params, np.array([[0.05, 0.1]]), np.array([[0.01, 0.99]])).ok\n"
        "layers = sb.sequential(3, [sb.Dense(4), sb.Elementwise('tanh'), sb.Dense(2)], 'mse')\n"
        "sb.compile(layers)\n"
        "sb.derive(layers).to_text()\n"
    )
    assert _loaded_by(code, HEAVY) == []


def test_the_report_and_the_notebook_view_still_work_in_a_fresh_interpreter(tmp_path):
    code = (
        "import symbackprop as sb\n"
        "net = sb.mlp([2, 2, 2], activation='sigmoid', loss='half_sse')\n"
        "params = {n: 0.1 * i for i, n in enumerate(net.parameter_names())}\n"
        f"path = sb.report(net, params, ([[0.05, 0.1]], [[0.01, 0.99]]), {str(tmp_path)!r} + "
        "'/r.html')\n"
        "assert '<html' in path.read_text().lower()\n"
        "svg = net._repr_svg_()  # None where Graphviz is missing\n"
        "assert svg is None or '<svg' in svg\n"
        "assert '<math' in sb.derive(net)._repr_html_()\n"
    )
    assert _loaded_by(code, ("jinja2",)) == ["jinja2"]


def test_version_loads_neither_sympy_nor_numpy():
    out, modules = _modules_imported_by_command("--version")
    assert out == f"symbackprop {sb.__version__}\n"
    assert "symbackprop.cli.main" in modules  # the probe sees the package's own imports
    assert not {m.split(".")[0] for m in modules} & set(ENGINE + HEAVY)


def test_help_loads_neither_sympy_nor_numpy():
    out, modules = _modules_imported_by_command("--help")
    assert out.startswith("usage: symbackprop")
    assert not {m.split(".")[0] for m in modules} & set(ENGINE + HEAVY)


def test_a_verbs_help_lists_the_optimisers_without_the_heavy_modules():
    # The optimisers' names come from their registry (SymPy), read as the help is shown.
    out, modules = _modules_imported_by_command("train", "--help")
    assert "--optimizer {adam,momentum,nesterov,rmsprop,sgd}" in " ".join(out.split())
    assert not {m.split(".")[0] for m in modules} & set(HEAVY)


def test_every_public_name_resolves_to_its_stage_object():
    for name in sb.__all__:
        value = getattr(sb, name)
        if name == "layers":
            assert value is sys.modules["symbackprop.model.layers"]
        else:
            assert getattr(sys.modules[sb._ORIGIN[name]], name) is value
    assert set(sb.__all__) <= set(dir(sb))


def test_the_name_table_the_type_imports_and_all_agree():
    tree = ast.parse((ROOT / "symbackprop" / "__init__.py").read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If))
    imports = [node for node in guarded.body if isinstance(node, ast.ImportFrom)]
    assert len(imports) == len(guarded.body)
    typed = {(node.module, alias.name) for node in imports for alias in node.names}
    table = {(module, name) for module, names in sb._SOURCES.items() for name in names}
    assert typed == table | {("symbackprop.model", "layers")}
    assert set(sb.__all__) == set(sb._ORIGIN) | {"layers"}
    assert len(sb.__all__) == len(set(sb.__all__))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'derivee'"):
        _ = sb.derivee
    assert not hasattr(sb, "derivee")


def test_star_import_gives_every_public_name():
    namespace: dict[str, object] = {}
    exec("from symbackprop import *", namespace)
    assert set(sb.__all__) <= set(namespace)
