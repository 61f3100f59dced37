"""Hostile text in what we render: every user string shows literally and runs nothing."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.model import notation
from symbackprop.render import report as report_module
from symbackprop.render.escape import _LATEX_WORDS, latex_text, markdown_text

WEEK5 = Path(__file__).resolve().parents[2] / "examples" / "worksheets" / "week5.toml"
HAVE_LATEX = all(shutil.which(t) for t in ("latexmk", "pdflatex", "pdftotext"))
needs_latex = pytest.mark.skipif(not HAVE_LATEX, reason="latexmk, pdflatex and pdftotext needed")

# Pieces a hostile title is made of: TeX's specials, its ^^ notation for a backslash and braces,
# commands that read files or run programs, Unicode the fonts lack, control characters.
HOSTILE_PIECES = [
    "\\", "{", "}", "$", "&", "#", "%", "_", "^", "~", "<", ">", "|", "^^5c", "^^7b", "^^7d",
    "input", "\\input{canary}", "^^5cinput^^7bcanary^^7d", "\\write18{touch pwned}",
    "\\immediate", "\\\\", "\n", "\n\n", "\t", "\x00", "\x0c", "\x7f", "\x1b]0;x\x07", "é",
    "σ", "😀", "中", "a", " ", "50%", "#1", "$a$", "\\end{document}", "\\csname", "\\catcode",
    "<script>alert(1)</script>", "[x](javascript:alert(1))", "![i](http://e/x.png)", "<b>",
    "javascript:", "`", "*", "**", "- ", "# ", "1. ", "---", "===", "> ", "| a |", "&lt;", "-0.5",
    "\u2028", "\r\n", "<!--", "<https://e>", "[^1]", "~~s~~", "    ",
]  # fmt: skip
hostile_text = st.lists(st.sampled_from(HOSTILE_PIECES), min_size=1, max_size=12).map("".join)
any_text = st.one_of(hostile_text, st.text(max_size=40))

# What latex_text may emit: the commands that print TeX's specials, or characters that print.
_ESCAPES = [r"\textbackslash{}", r"\textasciicircum{}", r"\textasciitilde{}", r"\textless{}",
            r"\textgreater{}", r"\textbar{}", r"\{", r"\}", r"\$", r"\&", r"\#", r"\%", r"\_",
            r"$\sigma'$", r"$\sigma$", r"$^2$", r"$\frac{1}{2}$", r"$\delta_{ik}$", r"$\delta$",
            *_LATEX_WORDS.values()]  # fmt: skip
_PLAIN = (
    r"[ !\"'()*+,\-./0-9:;=?@A-Z\[\]`a-z\u00c0-\u00ff\u03c3\u03b4\u03b7\u03b8\u2202\u2032"
    r"\u2212\u2211\u03a3\u2014\u2218\u22ee\u2026\u00d7\u00b7\u207a\u1d40\u00bd\u00b2]"
)
_POWER = r"\$[\^_]\{[-0-9]+\}\$"  # 10⁻⁵ and x₁ as $^{-5}$ and $_{1}$
_HYPHEN = r"-\{\}"  # a hyphen kept apart from the next one (-- would be a dash)
_LITERAL = re.compile(
    "(?:"
    + "|".join(re.escape(e) for e in _ESCAPES)
    + "|"
    + _POWER
    + "|"
    + _HYPHEN
    + "|"
    + _PLAIN
    + ")*"
)


@given(any_text)
@settings(max_examples=300, deadline=None)
def test_latex_text_emits_only_literal_characters_and_escapes(text):
    escaped = latex_text(text)
    assert _LITERAL.fullmatch(escaped), (text, escaped)
    assert "^^" not in escaped and "\n" not in escaped


def test_latex_text_keeps_plain_prose():
    assert latex_text("2-2-1 MLP, sigmoid/sigmoid") == "2-2-1 MLP, sigmoid/sigmoid"
    assert latex_text("Café über") == "Café über"
    assert latex_text("a_b ^ ~") == r"a\_b \textasciicircum{} \textasciitilde{}"


def test_latex_text_sets_subscript_digits_and_keeps_double_hyphens():
    # The Iris report's "x₁ … x₄" printed as "x? … x?", and "--sample" as an en dash.
    assert latex_text("x₁ … x₄, x₁₂") == "x$_{1}$ … x$_{4}$, x$_{12}$"
    assert latex_text("use --sample N") == "use -{}-sample N"
    assert latex_text("3.75×10⁻⁵") == r"3.75$\times$10$^{-5}$"


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True))
@settings(max_examples=200, deadline=None)
def test_every_usable_name_prints_as_balanced_math_without_stray_subscripts(name):
    tex = notation.latex_name(name)
    depth = 0
    for char in tex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, (name, tex)
    assert depth == 0, (name, tex)
    # A subscript always opens a group: a name's own underscores are escaped (x_ -> x\_).
    assert not re.search(r"(?<!\\)_(?!\{)", tex), (name, tex)


def test_non_ascii_names_are_refused_before_they_reach_latex():
    x, w = sp.Symbol("x1"), sp.Symbol("w1")
    with pytest.raises(sb.SpecError, match="use ASCII letters"):
        sb.Network.from_expressions([("é", w * x)], loss=sp.Symbol("é") ** 2, params=[w],
                                    inputs=[x], targets=[])  # fmt: skip


@pytest.fixture(scope="module")
def tiny():
    net = sb.mlp([1, 1])
    return net, net.init_params(seed=0), (np.array([[0.5]]), np.array([[1.0]]))


# --- Markdown: reports and notebook cells -----------------------------------------------------
def _markdown_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders the Markdown")
    md = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    return str(md.render(text))


def _tags(page: str) -> set[str]:
    return set(re.findall(r"</?([a-zA-Z0-9]+)", page))


@given(any_text)
@settings(max_examples=200, deadline=None)
def test_markdown_text_shows_literally_with_no_markup(text):
    page = _markdown_html(markdown_text(text))
    assert _tags(page) <= {"p", "pre", "code"}, (text, page)
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    flat = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text)
    assert shown.split() == flat.replace("\x00", "\ufffd").split(), (text, page)


@given(title=hostile_text)
@settings(max_examples=25, deadline=None)
def test_markdown_report_title_makes_no_markup(tiny, title):
    page = _markdown_html(report_module.render(*tiny, "md", title=title))
    assert _tags(page) <= {"h1", "h2", "h3", "p", "em", "strong", "code", "pre", "ul", "li", "br",
                           "blockquote", "table", "thead", "tbody", "tr", "th", "td"}  # fmt: skip
    assert "javascript:" not in re.sub(r"<[^>]*>", "", page) or "href" not in page


def test_notebook_cells_escape_the_title(tmp_path):
    from symbackprop.worksheets.generate import worksheet
    from symbackprop.worksheets.notebook import render_notebook
    from symbackprop.worksheets.spec import load_worksheet_spec

    title = "<script>alert(1)</script> [x](javascript:alert(1)) $\\href{javascript:x}{y}$\n# h"
    spec = dataclasses.replace(load_worksheet_spec(WEEK5), title=title)
    ws = worksheet(spec, ["ann"], "salt")
    notebook = json.loads(render_notebook(ws.variants[0], ws.manifests[0], release=True))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            page = _markdown_html("".join(cell["source"]))
            assert not _tags(page) & {"script", "a", "img", "h2"}, page
            assert "<h1>" not in page or page.count("<h1>") == 1


# --- compiled: nothing is read from outside the build folder ------------------------------------
def _pdf_text(path: Path) -> str:
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode()


@needs_latex
def test_report_title_that_reads_a_file_prints_literally(tiny, tmp_path, monkeypatch):
    (tmp_path / "canary.tex").write_text("CANARYSECRET\n")
    monkeypatch.chdir(tmp_path)
    net, params, data = tiny
    title = r"^^5cinput^^7bcanary^^7d ~^ 50% & #1 \\ {x} $a$ \input{/etc/hostname}"
    sb.report(net, params=params, data=data, path=tmp_path / "r.pdf", title=title)
    text = _pdf_text(tmp_path / "r.pdf")
    assert "CANARYSECRET" not in text
    assert "^^5cinput^^7bcanary^^7d" in text and "50% & #1" in text


SAME_TMP_PATH = HealthCheck.function_scoped_fixture  # one folder for all examples is fine here


@needs_latex
@pytest.mark.slow
@given(title=hostile_text)
@settings(max_examples=12, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_any_report_title_compiles_and_reads_nothing(tiny, tmp_path, title):
    (tmp_path / "canary.tex").write_text("CANARYSECRET\n")
    net, params, data = tiny
    target = tmp_path / "r.pdf"
    sb.report(net, params=params, data=data, path=target, title=title)
    assert "CANARYSECRET" not in _pdf_text(target)
    assert not (tmp_path / "pwned").exists()


_ACCENTS = str.maketrans("ˆ˜", "^~")


@pytest.mark.slow
@needs_latex
def test_worksheet_title_and_student_ids_print_literally(tmp_path):
    from symbackprop.worksheets.generate import worksheet
    from symbackprop.worksheets.spec import load_worksheet_spec

    spec = load_worksheet_spec(WEEK5)
    title = r"^^5cinput^^7b/etc/hostname^^7d X ~^ 50% & #1 \\ {x} $a$"
    spec = dataclasses.replace(spec, title=title)
    out = worksheet(spec, ["a_b@c-d"], "salt").write(tmp_path / "out", parts=("student",))
    # The sheets' OT1 fonts draw ^ and ~ as accents; ids print the font's own underscore, so
    # that an id copied from the PDF is the id.
    text = _pdf_text(out / "students" / "a_b@c-d" / "worksheet.pdf").translate(_ACCENTS)
    assert "^^5cinput^^7b/etc/hostname^^7d X" in text
    assert "50% & #1 \\\\ {x} $a$" in text and "a_b@c-d" in text
