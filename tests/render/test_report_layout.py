"""Reports' layout: nothing cut at any width or in print, numbers and sums set as a book sets them.

Measured where a reader sees it: word boxes in the PDF (``pdftotext -bbox``), element widths in
Chromium (Playwright, the system browser) at 800 and 1280 px and in print, line lengths of the
terminal derivation. The LaTeX and browser tests are slow.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.cli.main import main
from symbackprop.model.printing import number_latex, number_text, to_latex, to_text
from symbackprop.render.diagrams import network_dot, network_svg, shown_neurons
from symbackprop.render.report import render, report
from symbackprop.render.wrap import visible_length, wrap_latex, wrap_text
from tests.conftest import MAZUR_ETA, MAZUR_X, MAZUR_Y

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HAVE_LATEX = all(shutil.which(t) for t in ("latexmk", "pdflatex", "pdftotext"))
needs_latex = pytest.mark.skipif(not HAVE_LATEX, reason="latexmk, pdflatex and pdftotext needed")
CHROMIUM = "/usr/bin/chromium"
A4_WIDTH_PT = 595.28
MARGIN_PT = 56.69  # the report's 2 cm
ROUNDING_PT = 1.0  # pdftotext rounds word boxes; a glyph's side bearing may reach this far


def _wide_network() -> tuple[sb.Network, dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """A 4-5-10 softmax network: long sums in both layers, a softmax over ten outputs."""
    net = sb.mlp([4, 5, 10], activation=["tanh", "softmax"], loss="cross_entropy")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1, 4))
    Y = np.eye(10)[[7]]
    return net, net.init_params(seed=2, scheme="normal"), (X, Y)


# --- numbers and sums ----------------------------------------------------------------------
def test_small_numbers_print_as_powers_of_ten_not_e_notation():
    assert number_text(3.75065275e-05) == "3.75065275×10⁻⁵"
    assert number_latex(-3.75065275e-05) == r"-3.75065275 \times 10^{-5}"
    assert number_text(0.3775) == "0.3775"
    assert number_text(3.2e-10, 2) == "3.2×10⁻¹⁰"
    net = sb.mlp([1, 1], activation="sigmoid", loss="half_sse")
    d = sb.derive(net)
    ev = d.evaluate({"w1_1_1": 2e-6, "b1_1": 0.0}, [3e-6], [0.5])
    text, latex = d.to_text(ev), d.to_latex(ev)
    assert "×10⁻" in text and r"\times 10^{-" in latex
    for shown in (text, latex):
        assert not re.search(r"\de[-+]?\d", shown), shown


def test_report_tables_print_powers_of_ten(mazur_mlp, mazur_mlp_params):
    page = render(mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y), "html", learning_rate=MAZUR_ETA)
    visible = html.unescape(
        re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", page, flags=re.S))
    )
    assert "×10⁻" in visible  # the gradient check's relative errors
    assert not re.search(r"\d\.\de-\d\d", visible)


def test_sums_of_indexed_terms_follow_the_indices_as_numbers():
    net = sb.mlp([2, 2, 10], activation=["sigmoid", "softmax"], loss="cross_entropy")
    loss = sb.derive(net).step("L").rhs
    targets = re.findall(r"y_\{(\d+)\}", to_latex(loss))
    assert targets == [str(j) for j in range(1, 11)], targets
    assert to_text(loss).index("y₉") < to_text(loss).index("y₁₀")


# --- breaking long formulas ----------------------------------------------------------------
def test_long_formulas_break_at_operators_into_balanced_rows():
    args = ", ".join(f"\\left(-0.{j}08881164\\right)" for j in range(1, 10))
    tex = rf"= \operatorname{{softmax}}_{{1}}\left({args}\right) = 0.090618825"
    rows = wrap_latex(tex, 40)
    assert len(rows) > 1
    for row in rows:
        assert visible_length(row) <= 40 + 6, row  # + the continuation's indent
        assert row.count(r"\left") == row.count(r"\right"), row
    assert rows[-1] == "= 0.090618825"


def test_a_sum_breaks_before_a_sign_outside_parentheses_first():
    tex = r"= (a + b + c) \cdot (1 - d) + e + f"
    assert wrap_latex(tex, 14)[0] == r"= (a + b + c) \cdot (1 - d)"
    text = "   δ = (0.4·0.13 + 0.5·(-0.03)) · 0.24 + 0.1 = 0.0087"
    assert all(len(row) <= 30 for row in wrap_text(text, 30, 8))


def test_terminal_derivation_wraps_to_the_terminal_width(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["derive", str(EXAMPLES / "mazur.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    too_long = [line for line in lines if len(line) > 60]
    assert not too_long, too_long
    assert any(line.strip().startswith("[sum over every node it feeds") for line in lines)


# --- PDF -----------------------------------------------------------------------------------
def _words(pdf: Path) -> list[list[tuple[float, float, float, float, str]]]:
    """Return each page's words as (xMin, yMin, xMax, yMax, text)."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    pages: list[list[tuple[float, float, float, float, str]]] = []
    for line in out.splitlines():
        if "<page " in line:
            pages.append([])
        found = re.search(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                          r"(.*)</word>", line)  # fmt: skip
        if found:
            box = tuple(float(found[i]) for i in range(1, 5))
            pages[-1].append((*box, html.unescape(found[5])))  # type: ignore[arg-type]
    return pages


@pytest.fixture(scope="module")
def wide_pdf(tmp_path_factory) -> Path:
    if not HAVE_LATEX:
        pytest.skip("latexmk, pdflatex and pdftotext needed")
    net, params, data = _wide_network()
    return report(net, params, data, tmp_path_factory.mktemp("wide") / "wide.pdf")


@pytest.fixture(scope="module")
def mazur_pdf(tmp_path_factory, mazur_mlp, mazur_mlp_params) -> Path:
    if not HAVE_LATEX:
        pytest.skip("latexmk, pdflatex and pdftotext needed")
    path = tmp_path_factory.mktemp("mazur") / "mazur.pdf"
    return report(mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y), path,
                  learning_rate=MAZUR_ETA, freeze=["b1", "b2"])  # fmt: skip


@pytest.mark.slow
@needs_latex
def test_pdf_words_stay_inside_the_right_margin(wide_pdf, mazur_pdf):
    right = A4_WIDTH_PT - MARGIN_PT + ROUNDING_PT
    for pdf in (wide_pdf, mazur_pdf):
        outside = [(n, word) for n, page in enumerate(_words(pdf), start=1)
                   for word in page if word[2] > right]  # fmt: skip
        assert not outside, f"{pdf.name}: words past the margin at {right:.0f}pt: {outside[:5]}"


@pytest.mark.slow
@needs_latex
def test_pdf_rule_notes_sit_on_the_row_they_explain(mazur_pdf):
    for page in _words(mazur_pdf):
        for x0, y0, _, y1, text in page:
            if text.startswith("[chain") or text.startswith("[a"):
                beside = [w for w in page if w[2] < x0 and abs((w[1] + w[3]) - (y0 + y1)) < 12]
                assert beside, f"the note {text!r} at y={y0:.0f} has no formula on its row"


@pytest.mark.slow
@needs_latex
def test_pdf_pages_never_start_inside_a_step(wide_pdf, mazur_pdf):
    for pdf in (wide_pdf, mazur_pdf):
        for number, page in enumerate(_words(pdf)[1:], start=2):
            top = min(w[1] for w in page)  # the first line, with its indices and powers
            first = min((w for w in page if w[1] < top + 12), key=lambda w: w[0])
            assert first[4] not in ("=", "+", "−", "-"), (
                f"{pdf.name} page {number} starts with the continued line {first[4]!r}"
            )


# --- HTML in Chromium ----------------------------------------------------------------------
# Elements whose content is wider than their box, but for boxes that scroll (a derivation may
# scroll within its own box) and SVG's insides; the page itself may not scroll sideways.
_OVERFLOWING = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) out.push(['the page', doc.scrollWidth]);
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el);
    if (style.display === 'inline' || el.closest('svg') && el.tagName !== 'svg') continue;
    if (['auto', 'scroll'].includes(style.overflowX)) continue;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      out.push([el.tagName + '.' + el.className, el.scrollWidth, el.clientWidth]);
  }
  return out;
}"""
PRINT_WIDTH_PX = 680  # A4's 210 mm less the print stylesheet's 15 mm margins, at 96 px/in


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright needed")
    if not Path(CHROMIUM).exists():
        pytest.skip("the Debian package chromium is needed")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["mazur", "wide"])
def test_html_report_fits_at_800_and_1280_px_and_in_print(which, browser, tmp_path, mazur_mlp,
                                                          mazur_mlp_params):  # fmt: skip
    if which == "mazur":
        net, params, data = mazur_mlp, mazur_mlp_params, (MAZUR_X, MAZUR_Y)
    else:
        net, params, data = _wide_network()
    page_file = report(net, params, data, tmp_path / f"{which}.html")
    for width, media in ((800, "screen"), (1280, "screen"), (PRINT_WIDTH_PX, "print")):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.emulate_media(media=media)
        page.goto(page_file.as_uri())
        overflowing = page.evaluate(_OVERFLOWING)
        page.close()
        assert not overflowing, f"{which} at {width} px ({media}): {overflowing[:5]}"


_LABEL_BOXES = """() => [...document.querySelectorAll('svg g.node')]
  .filter(g => g.querySelector('title').textContent.startsWith('w_'))
  .map(g => g.querySelector('text').getBBox())
  .map(b => [b.x, b.y, b.width, b.height])"""


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(3, 4, 2), (4, 8, 3)])
def test_diagram_weights_do_not_pile_up(sizes, browser, tmp_path):
    net = sb.mlp(list(sizes), activation="sigmoid", loss="half_sse")
    params = net.init_params(seed=1, scheme="normal")
    svg = network_svg(net, dict(sb.derive(net).evaluate(params, [0.5] * sizes[0],
                                                        [0.2] * sizes[-1]).values))  # fmt: skip
    if svg is None:
        pytest.skip("the Debian package graphviz is needed")
    path = tmp_path / "net.html"
    path.write_text(f"<!DOCTYPE html><html><body>{svg}</body></html>", encoding="utf-8")
    page = browser.new_page()
    page.goto(path.as_uri())
    boxes = page.evaluate(_LABEL_BOXES)
    page.close()
    drawn = [len([j for j in shown_neurons(n) if j is not None]) for n in sizes]
    assert len(boxes) == sum(a * b for a, b in zip(drawn, drawn[1:], strict=False))
    for i, (x, y, w, h) in enumerate(boxes):
        for u, v, s, t in boxes[i + 1 :]:
            assert x + w <= u or u + s <= x or y + h <= v or v + t <= y, (
                f"weight labels overlap: {(x, y, w, h)} and {(u, v, s, t)}"
            )


def test_tall_network_diagram_fills_the_page_width():
    net = sb.mlp([4, 8, 3], activation="sigmoid", loss="half_sse")
    positions = [tuple(map(float, m.groups()))
                 for m in re.finditer(r'pos="([-\d.]+),([-\d.]+)!"', network_dot(net))]  # fmt: skip
    xs, ys = [x for x, _ in positions], [y for _, y in positions]
    assert (max(xs) - min(xs)) / (max(ys) - min(ys)) >= 1.3


@pytest.mark.slow
@needs_latex
def test_latex_fragment_keeps_rows_and_rule_words_inside_the_margins(tmp_path):
    """d.to_latex(ev), as a worksheet key sets it: long rows break, rule words are row tags."""
    net, params, (X, Y) = _wide_network()
    d = sb.derive(net)
    fragment = d.to_latex(d.evaluate(params, X[0], Y[0]))
    assert r"\tag*{" in fragment and "&&" not in fragment
    (tmp_path / "f.tex").write_text(
        "\\documentclass[11pt]{article}\\usepackage[a4paper,margin=2cm]{geometry}"
        "\\usepackage[utf8]{inputenc}\\usepackage{amsmath}\\allowdisplaybreaks"
        "\\DeclareUnicodeCharacter{00B7}{\\ensuremath{\\cdot}}"
        "\\DeclareUnicodeCharacter{03C3}{\\ensuremath{\\sigma}}"
        f"\\begin{{document}}\n{fragment}\n\\end{{document}}\n",
        encoding="utf-8",
    )
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                   cwd=tmp_path, capture_output=True, check=True, timeout=120)  # fmt: skip
    right = A4_WIDTH_PT - MARGIN_PT + ROUNDING_PT
    outside = [w for page in _words(tmp_path / "f.pdf") for w in page if w[2] > right]
    assert not outside, outside[:5]


@pytest.mark.slow
@needs_latex
def test_layer_network_pdf_keeps_labels_inside_the_margin(tmp_path):
    """A matrix shown full width keeps its state_dict label: beside it, or under it."""
    spec = sb.load_spec(EXAMPLES / "layers" / "conv_pool.toml")
    pdf = report(spec.network, spec.params, spec.data, tmp_path / "conv.pdf")
    right = A4_WIDTH_PT - MARGIN_PT + ROUNDING_PT
    outside = [w for page in _words(pdf) for w in page if w[2] > right]
    assert not outside, outside[:5]
