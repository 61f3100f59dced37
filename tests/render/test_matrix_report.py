"""Matrix derivations of networks of layers in every format: text, Markdown, LaTeX, HTML, PDF.

Every layer kind of tests/derivation/test_matrix.py renders in every format; the text shows each
step's shape and its rules in words; the numbers printed equal MatrixDerivation.evaluate's; the
HTML carries no raw LaTeX; the PDF compiles with nothing cut at the margin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.derivation.steps import Stage
from symbackprop.model.printing import to_latex, to_text
from symbackprop.render.matrix_sections import entry_latex, entry_text
from symbackprop.render.matrix_text import latex_matrix, text_matrix
from symbackprop.render.text import RULE_WORDS
from tests.derivation.test_matrix import LAYER_KINDS

RTOL_SHOWN = 5e-4  # numbers are printed with 4 significant digits
OVERFULL_TOLERANCE_PT = 2.0  # TeX's own slack; a cut matrix is far wider
BATCH = 4
NEEDS_LATEX = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdflatex") is None,
    reason="latexmk/pdflatex are not installed (Debian packages latexmk texlive-latex-base "
    "texlive-latex-recommended)",
)


def batch(net: sb.LayerNetwork, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(BATCH, net.n_inputs))
    if net.loss_name in ("cross_entropy", "bce"):
        Y = np.eye(net.n_outputs)[rng.integers(0, net.n_outputs, BATCH)]
        if net.loss_name == "bce":
            Y = rng.integers(0, 2, (BATCH, net.n_outputs)).astype(float)
    else:
        Y = rng.normal(size=(BATCH, net.n_outputs))
    return X, Y


@cache
def evaluated(kind: str) -> tuple[sb.MatrixDerivation, sb.MatrixEvaluation]:
    net = LAYER_KINDS[kind]
    d = sb.derive(net)
    return d, d.evaluate(net.init_params(0), *batch(net), learning_rate=0.5)


def _visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def _latex_number(cell: str) -> float:
    match = re.fullmatch(r"\s*(-?[0-9.]+)(?:\s*\\times\s*10\^\{(-?\d+)\})?\s*", cell)
    assert match, f"not a printed number: {cell!r}"
    return float(match[1]) * 10.0 ** int(match[2] or 0)


def shown_matrices(tex: str) -> list[np.ndarray]:
    """Return every bmatrix of a LaTeX or Markdown text, read back as numbers."""
    out = []
    for body in re.findall(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", tex, flags=re.S):
        rows = [row.split("&") for row in body.split(r"\\")]
        if any(cell.strip().startswith("\\") for row in rows for cell in row):
            continue  # an abbreviated matrix (\cdots, \vdots)
        out.append(np.array([[_latex_number(c) for c in row] for row in rows]))
    return out


def assert_shown(text: str, value: np.ndarray, what: str) -> None:
    """Assert that some matrix in the text is ``value`` to the digits shown."""
    for matrix in shown_matrices(text):
        if matrix.shape == np.atleast_2d(value).shape and np.allclose(
            matrix, value, rtol=RTOL_SHOWN, atol=1e-12
        ):
            return
    raise AssertionError(f"{what} ({np.shape(value)}) is not shown with its evaluated numbers")


# --- the printer -----------------------------------------------------------------------------
def test_matrix_names_and_operations_are_in_textbook_notation() -> None:
    d = sb.derive(LAYER_KINDS["transformer block"])
    cases = {
        "dA3": (r"\bar{A}^{(3)} = W^{(4)\top} \Delta^{(4)}", "A\u0304⁽³⁾ = W⁽⁴⁾ᵀ Δ⁽⁴⁾"),
        "Delta3": (r"\Delta^{(3)} = \bar{A}^{(3)} \odot \operatorname{relu}'\left(Z^{(3)}\right)",
                   "Δ⁽³⁾ = A\u0304⁽³⁾ ⊙ relu′(Z⁽³⁾)"),
        "Z3": (r"Z^{(3)} = W^{(3)} N^{(2)} + \mathbf{b}^{(3)} \mathbf{1}^{\top}",
               "Z⁽³⁾ = W⁽³⁾ N⁽²⁾ + b⁽³⁾ 𝟏ᵀ"),
        "S1": (r"S^{(1)} = \frac{1}{2} K^{(1)\top} Q^{(1)}", "S⁽¹⁾ = (1/2) K⁽¹⁾ᵀ Q⁽¹⁾"),
        "var2": (r"\sigma^{2\,(2)} = \frac{1}{4} \mathbf{1}^{\top} \left(C^{(2)}\right)^{\circ\,2}",
                 "σ²⁽²⁾ = (1/4) 𝟏ᵀ (C⁽²⁾)∘²"),
        "dL_dW3": (r"\frac{\partial \mathcal{L}}{\partial W^{(3)}} = \frac{1}{B} \Delta^{(3)} "
                   r"N^{(2)\top}", "∂L/∂W⁽³⁾ = (1/B) Δ⁽³⁾ N⁽²⁾ᵀ"),
        "P1": (r"P^{(1)} = \operatorname{softmax}_{\mathrm{col}}\left(S^{(1)}\right)",
               "P⁽¹⁾ = softmax_col(S⁽¹⁾)"),
    }  # fmt: skip
    for name, (tex, text) in cases.items():
        step = d.step(name)
        assert f"{to_latex(step.lhs, matrix=True)} = {to_latex(step.rhs, matrix=True)}" == tex
        assert f"{to_text(step.lhs, matrix=True)} = {to_text(step.rhs, matrix=True)}" == text
    names = {"mu2": r"\mu^{(2)}", "Xhat2": r"\hat{X}^{(2)}", "X": "X", "Y": "Y",
             "gamma2": r"\boldsymbol{\gamma}^{(2)}", "beta2": r"\boldsymbol{\beta}^{(2)}",
             "WQ1": "W_Q^{(1)}", "dXhat2": r"\overline{\hat{X}}^{(2)}"}  # fmt: skip
    for name, tex in names.items():
        assert to_latex(sp.MatrixSymbol(name, 2, 2), matrix=True) == tex


def test_the_mlp_layer_view_keeps_its_own_notation() -> None:
    W, a = sp.MatrixSymbol("W2", 2, 2), sp.MatrixSymbol("a1", 2, 1)
    assert to_latex(W.T * a) == r"\left(W^{(2)}\right)^{T} \mathbf{a}^{(1)}"
    assert to_latex(sp.HadamardProduct(a, a)) == r"\mathbf{a}^{(1)} \circ \mathbf{a}^{(1)}"


def test_numbers_have_four_significant_digits_and_no_e_notation() -> None:
    assert entry_text(0.123456) == "0.1235"
    assert entry_text(-1234.56) == "−1235"
    assert entry_text(1.23456e-5) == "1.235×10⁻⁵"
    assert entry_latex(-6.7784e-4) == r"-6.778 \times 10^{-4}"
    assert entry_text(0.0) == "0"
    assert "e" not in entry_text(3.2e12)


def test_a_large_matrix_is_abbreviated_with_its_shape() -> None:
    big = np.arange(120.0).reshape(10, 12)
    assert "10×12, abbreviated" in "\n".join(text_matrix(big))
    tex = latex_matrix(big)
    assert r"\cdots" in tex and r"\vdots" in tex and r"(10 \times 12)" in tex


# --- every layer kind, every format ----------------------------------------------------------
@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_every_layer_kind_renders_in_every_format(kind: str) -> None:
    d, ev = evaluated(kind)
    text = d.to_text(ev)
    for step in d.steps:
        if step.shape is not None:
            shape = "×".join(str(n) for n in step.shape)
            assert f"[{shape}]" in text, f"{kind}: {step.name} lacks its shape {shape}"
        for rule in step.rules:
            assert RULE_WORDS[rule] in text, f"{kind}: {step.name} cites {rule} without words"
        for path in step.paths if len(step.paths) > 1 else ():
            assert f"path via {to_text(path.via, matrix=True)}:" in text
    for gradient in d.stage(Stage.GRADIENT):
        assert gradient.state_name and gradient.state_name in text
    assert entry_text(ev.loss) in text
    assert "$" in d.to_markdown(ev) and r"\begin{align*}" in d.to_latex(ev)
    assert d.to_text() and d.to_markdown() and d.to_latex()
    html = d._repr_html_()
    assert "<math" in html
    assert not re.findall(r"\\[A-Za-z]+", _visible_text(html))


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_numbers_shown_equal_the_evaluation(kind: str) -> None:
    d, ev = evaluated(kind)
    tex = d.to_latex(ev)
    for step in d.steps:
        value = (
            ev.updated.get(step.name) if step.stage is Stage.UPDATE else ev.values.get(step.name)
        )
        if value is not None and max(np.shape(value)) <= 6:
            assert_shown(tex, value, f"{kind}: {step.name}")


def test_residual_and_normalisation_paths_are_shown_term_by_term() -> None:
    d, ev = evaluated("transformer block")
    text = d.to_text(ev)
    assert "path via R⁽⁴⁾: R\u0304⁽⁴⁾   [passed on unchanged]" in text  # the skip path of dN2
    assert "path via Z⁽³⁾: W⁽³⁾ᵀ Δ⁽³⁾" in text  # the block's path
    assert "path via μ⁽²⁾:" in text and "path via σ²⁽²⁾:" in text
    assert RULE_WORDS[sb.Rule.RESIDUAL_PATHS] in text
    assert "[B×B]" in text  # attention scores: keys × queries


# --- reports ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(LAYER_KINDS))
@pytest.mark.parametrize("fmt", ["html", "md", "tex"])
def test_every_layer_kind_reports_in_every_text_format(kind: str, fmt: str, tmp_path: Path) -> None:
    net = LAYER_KINDS[kind]
    d, ev = evaluated(kind)
    page = sb.report(net, net.init_params(0), batch(net), tmp_path / f"r.{fmt}").read_text()
    assert net.describe().split(" (")[0].split(", ")[-1] in page
    for name in net.parameter_names():
        assert name in page, f"{kind}: the layer table lacks {name}"
    assert entry_text(ev.loss) in page
    if fmt == "html":
        # Math is MathML, read with no script; the one inline script only fits wide boxes to paper.
        assert "<math" in page and page.lower().count("<script") == 1 and "<script src" not in page
        commands = re.findall(r"\\[A-Za-z]+", _visible_text(page))
        assert not commands, f"raw LaTeX on the page: {sorted(set(commands))[:8]}"
    else:
        for name in ("X", d.stage(Stage.ADJOINT)[0].name):
            value = ev.values[name]
            if max(value.shape) <= 6:
                assert_shown(page, value, f"{kind}: {name}")


def test_report_numbers_equal_the_evaluation(tmp_path: Path) -> None:
    net = LAYER_KINDS["batch norm"]
    d, ev = evaluated("batch norm")
    page = sb.report(net, net.init_params(0), batch(net), tmp_path / "r.md").read_text()
    for step in d.steps:
        if step.stage in (Stage.FORWARD, Stage.ADJOINT, Stage.GRADIENT):
            assert_shown(page, ev.values[step.name], step.name)
    assert f"Before the update the loss is **{entry_text(ev.loss)}**" in page


def test_report_refuses_training_options_for_a_network_of_layers(tmp_path: Path) -> None:
    net = LAYER_KINDS["dense+softmax"]
    with pytest.raises(sb.SymbackpropError, match="drop freeze, epochs and batch_size"):
        sb.report(net, net.init_params(0), batch(net), tmp_path / "r.html", epochs=3)


@NEEDS_LATEX
@pytest.mark.parametrize("kind", ["transformer block", "batch norm", "dropout"])
def test_latex_report_compiles_with_nothing_cut_at_the_margin(kind: str, tmp_path: Path) -> None:
    net = LAYER_KINDS[kind]
    tex = sb.report(net, net.init_params(0), batch(net), tmp_path / "r.tex")
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error",
                           tex.name], cwd=tmp_path, capture_output=True, timeout=180)  # fmt: skip
    log = (tmp_path / "r.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, f"pdflatex failed: {errors[:3]}"
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide", log)]
    assert all(width <= OVERFULL_TOLERANCE_PT for width in overfull), f"cut lines: {overfull}"
    assert "Missing character" not in log


@NEEDS_LATEX
def test_pdf_report_is_written(tmp_path: Path) -> None:
    net = LAYER_KINDS["attention"]
    pdf = sb.report(net, net.init_params(0), batch(net), tmp_path / "r.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


@NEEDS_LATEX
@pytest.mark.parametrize("kind", ["transformer block", "every activation", "dropout", "batch norm"])
def test_latex_fragment_compiles_in_a_plain_document(kind: str, tmp_path: Path) -> None:
    d, ev = evaluated(kind)
    document = (
        "\\documentclass{article}\n\\usepackage[a4paper,margin=2cm]{geometry}\n"
        "\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
        f"{d.to_latex(ev)}\n\\end{{document}}\n"
    )
    (tmp_path / "f.tex").write_text(document, encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                          cwd=tmp_path, capture_output=True, timeout=120)  # fmt: skip
    log = (tmp_path / "f.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, f"pdflatex failed: {errors[:3]}"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
def test_chromium_renders_the_matrix_report_without_raw_latex(tmp_path: Path) -> None:
    net = LAYER_KINDS["transformer block"]
    page = sb.report(net, net.init_params(0), batch(net), tmp_path / "r.html")
    profile = tmp_path / "profile"
    profile.mkdir()
    dom = subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    text = _visible_text(dom)
    for raw in (r"\frac", r"\bar", r"\odot", r"\begin", r"\top", "$"):
        assert raw not in text, f"{raw!r} reached the rendered page"
    assert "<math" in dom and "4×B" in text


def test_feature_maps_are_shown_as_grids_per_sample_and_channel():
    from symbackprop.render.matrix_sections import MatrixLine
    from symbackprop.render.matrix_text import value_latex, value_text

    net = sb.sequential((2, 3, 3), [sb.Flatten(), sb.Dense(2), "softmax"])
    X = np.arange(36.0).reshape(2, 2, 3, 3) / 10
    ev = sb.derive(net).evaluate(net.init_params(0), X, np.eye(2))
    line = MatrixLine("X", "X", "", "", value=ev.values["X"], sample_shape=(2, 3, 3))
    text = "\n".join(value_text(line))
    assert text.count("sample 2, channel 2:") == 1
    assert "⎣ 3.3  3.4  3.5 ⎦" in text  # sample 2, channel 2, last row, as PyTorch holds it
    assert len(value_latex(line)) == 2  # one row of grids per sample
    kernel = MatrixLine("K", "K", "", "", value=np.arange(8.0).reshape(2, 4),
                        sample_shape=(2, 1, 2, 2), per_sample=False)  # fmt: skip
    assert "out 2, in 1:" in "\n".join(value_text(kernel))
