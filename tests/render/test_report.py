"""Reports: golden files for Mazur's example, his numbers in every format, real renders.

Rendered output is compared with tests/render/golden/ (refresh with SYMBACKPROP_REFRESH_GOLDEN=1);
Chromium draws the HTML and pdflatex compiles the LaTeX where they are installed.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.render.context import context
from symbackprop.render.latex import ReportEngineError
from symbackprop.render.report import render, report
from tests.conftest import MAZUR_ETA, MAZUR_X, MAZUR_Y

GOLDEN = Path(__file__).parent / "golden"
REFRESH = os.environ.get("SYMBACKPROP_REFRESH_GOLDEN") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# An overfull box this small is invisible (TeX's own \hfuzz is 0.1pt; 2pt is < 1 mm).
OVERFULL_TOLERANCE_PT = 2.0
FROZEN = ("b1", "b2")

# Mazur's one-step numbers, as the report prints them (9 decimals, trailing zeros dropped).
MAZUR_DELTAS = ["0.138498562", "-0.038098237", "0.008771355", "0.009954255"]
MAZUR_GRADIENTS = [
    "0.000438568", "0.000877135", "0.000497713", "0.000995425",
    "0.082167041", "0.082667628", "-0.02260254", "-0.022740242",
]  # fmt: skip
MAZUR_UPDATED = [
    "0.149780716", "0.199561432", "0.249751144", "0.299502287",
    "0.35891648", "0.408666186", "0.51130127", "0.561370121",
]  # fmt: skip
MAZUR_NUMBERS = MAZUR_DELTAS + MAZUR_GRADIENTS + MAZUR_UPDATED


def _mazur(fmt: str, mazur_mlp: sb.Network, params: dict[str, float]) -> str:
    return render(mazur_mlp, params, (MAZUR_X, MAZUR_Y), fmt, learning_rate=MAZUR_ETA,
                  freeze=FROZEN, figure_stem="mazur")  # fmt: skip


@pytest.fixture(scope="module")
def mazur_reports(mazur_mlp: sb.Network, mazur_mlp_params: dict[str, float]) -> dict[str, str]:
    return {fmt: _mazur(fmt, mazur_mlp, mazur_mlp_params) for fmt in ("md", "tex", "html")}


def _visible_text(page: str) -> str:
    """Return what a reader sees: no style block, no tags, entities decoded."""
    page = re.sub(r"<style.*?</style>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


# --- golden files ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["md", "tex", "html"])
def test_mazur_report_matches_golden_file(fmt: str, mazur_reports: dict[str, str]) -> None:
    golden = GOLDEN / f"mazur.{fmt}"
    if REFRESH:
        golden.write_text(mazur_reports[fmt], encoding="utf-8")
    assert golden.exists(), f"{golden} is missing; run with SYMBACKPROP_REFRESH_GOLDEN=1"
    assert mazur_reports[fmt] == golden.read_text(encoding="utf-8"), (
        f"the {fmt} report differs from {golden}; if the change is intended, refresh it with "
        "SYMBACKPROP_REFRESH_GOLDEN=1"
    )


def test_report_is_deterministic(mazur_mlp: sb.Network, mazur_mlp_params: dict) -> None:
    assert _mazur("html", mazur_mlp, mazur_mlp_params) == _mazur(
        "html", mazur_mlp, mazur_mlp_params
    )


# --- Mazur's numbers in every format -------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["md", "tex", "html"])
def test_every_mazur_delta_gradient_and_update_appears(
    fmt: str, mazur_reports: dict[str, str]
) -> None:
    text = mazur_reports[fmt]
    if fmt == "html":
        text = _visible_text(text)  # MathML writes the minus sign apart from the digits
        missing = [n for n in MAZUR_NUMBERS if n.lstrip("-") not in text]
    else:
        missing = [n for n in MAZUR_NUMBERS if n not in text]
    assert not missing, f"{fmt} report lacks Mazur's numbers {missing}"


def test_blame_split_is_shown_with_shares(mazur_reports: dict[str, str]) -> None:
    # 0.055399425 and -0.019049118 pull 74 % and 26 % of 0.074448543 in opposite directions.
    for fmt, text in mazur_reports.items():
        percent = r" \%" if fmt == "tex" else " %"  # LaTeX escapes the percent sign
        assert f"74{percent}" in text and f"-26{percent}" in text, f"{fmt} lacks blame shares"


def test_html_is_self_contained_with_native_mathml(mazur_reports: dict[str, str]) -> None:
    page = mazur_reports["html"]
    assert "<math" in page and "<svg" in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "network reference"
    assert "@import" not in page and "url(" not in page


def test_no_latex_reaches_the_visible_html(mazur_reports: dict[str, str]) -> None:
    text = _visible_text(mazur_reports["html"])
    commands = re.findall(r"\\[A-Za-z]+", text)
    assert not commands, f"raw LaTeX commands on the page: {sorted(set(commands))[:10]}"
    assert "$$" not in text and "$" not in text


def test_markdown_math_is_dollar_delimited(mazur_reports: dict[str, str]) -> None:
    md = mazur_reports["md"]
    assert r"$\delta^{(2)}_{1} = " in md
    assert md.count("$") % 2 == 0


def test_context_is_plain_data(mazur_mlp: sb.Network, mazur_mlp_params: dict) -> None:
    ctx = context(mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y), freeze=FROZEN)

    def check(value: object, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str), where
                check(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                check(item, f"{where}[{i}]")
        else:
            assert type(value) in (str, int, float, bool), f"{where} is {type(value).__name__}"

    check(ctx, "context")
    json.dumps(ctx)


# --- other networks --------------------------------------------------------------------------
def test_program_report_draws_the_computation_graph(tmp_path: Path) -> None:
    w, x, y, h, out = sp.symbols("w x y h out")
    program = [(h, w * x), (out, sp.tanh(h))]
    net = sb.Network.from_expressions(program, loss=(out - y) ** 2, params=[w], inputs=[x],
                                      targets=[y])  # fmt: skip
    path = report(net, {"w": 0.5}, ([1.0], [0.2]), tmp_path / "program.html")
    page = path.read_text()
    if shutil.which("dot"):
        assert "<svg" in page and "∂L/∂h" in page
    else:
        assert "Graphviz" in page
    assert "tanh" in page


def test_batch_report_says_which_sample_the_numbers_are_for(tmp_path: Path) -> None:
    net = sb.mlp([2, 3, 2], activation=["tanh", "softmax"], loss="cross_entropy")
    X = np.array([[0.5, -0.2], [0.1, 0.9], [-0.4, 0.3]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    text = render(net, net.init_params(seed=1), (X, Y), "md", epochs=20)
    assert re.search(r"Every number in the derivation is for sample \d", text)
    assert "## Training" in text


def test_large_network_shows_a_subset_and_finishes_fast(tmp_path: Path) -> None:
    net = sb.mlp([784, 128, 10])
    rng = np.random.default_rng(0)
    X, Y = rng.random((2, 784)), np.eye(10)[[3, 7]]
    text = render(net, net.init_params(seed=0), (X, Y), "md")
    assert "784-128-10 network has 101,770 parameters" in text
    assert "3-3-10 subnetwork" in text


def test_unknown_suffix_is_a_clear_error(mazur_mlp: sb.Network, mazur_mlp_params: dict) -> None:
    with pytest.raises(sb.SymbackpropError, match="use a path ending in .html, .tex, .pdf or .md"):
        report(mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y), "report.docx")


def test_pdf_without_latex_names_the_missing_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mazur_mlp: sb.Network, mazur_mlp_params: dict
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ReportEngineError, match="latexmk and pdflatex not found on PATH; install"):
        report(mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y), tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


# --- real renders -----------------------------------------------------------------------------
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
def test_chromium_renders_the_html_without_raw_latex(
    tmp_path: Path, mazur_reports: dict[str, str]
) -> None:
    page = tmp_path / "mazur.html"
    page.write_text(mazur_reports["html"], encoding="utf-8")
    profile = tmp_path / "profile"
    profile.mkdir()
    base = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    text = _visible_text(dom)
    for raw in (r"\frac", r"\delta", "$$", r"\mathcal", r"\left"):
        assert raw not in text, f"{raw!r} reached the rendered page"
    assert "0.138498562" in text
    shot = tmp_path / "shot.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                   capture_output=True, timeout=60, check=True)  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 20_000


@pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdflatex") is None,
    reason="latexmk/pdflatex are not installed (Debian packages latexmk texlive-latex-base "
    "texlive-latex-recommended)",
)
def test_latex_report_compiles_without_errors_or_overfull_lines(
    tmp_path: Path, mazur_mlp: sb.Network, mazur_mlp_params: dict
) -> None:
    tex = report(mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y), tmp_path / "mazur.tex",
                 learning_rate=MAZUR_ETA, freeze=FROZEN, epochs=50)  # fmt: skip
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error",
                           tex.name], cwd=tmp_path, capture_output=True, timeout=120)  # fmt: skip
    log = (tmp_path / "mazur.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, f"pdflatex failed: {errors[:3]}"
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide", log)]
    assert all(width <= OVERFULL_TOLERANCE_PT for width in overfull), (
        f"overfull lines cut formulas: {overfull}"
    )
    assert "Missing character" not in log
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", "mazur.pdf", "page"],
                       cwd=tmp_path, check=True, timeout=60)  # fmt: skip
        assert list(tmp_path.glob("page*.png"))
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "mazur.pdf", "-"], cwd=tmp_path, capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        assert "0.138498562" in text and "Training" in text


@pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdflatex") is None,
    reason="latexmk/pdflatex are not installed (Debian packages latexmk texlive-latex-base)",
)
def test_pdf_report_is_compiled_for_the_user(
    tmp_path: Path, mazur_mlp: sb.Network, mazur_mlp_params: dict
) -> None:
    pdf = report(mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y), tmp_path / "mazur.pdf",
                 freeze=FROZEN)  # fmt: skip
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mazur.pdf"]
