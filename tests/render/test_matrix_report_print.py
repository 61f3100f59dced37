"""Printed reports of networks of layers (Chromium, A4): no matrix runs past the page's margin.

A reader prints the HTML report; the PDF Chromium makes is read back with `pdftotext -bbox`, so
what is measured is where the words really landed on paper, not what the page meant to do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symbackprop.cli import main as cli

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright==1.65.2)"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOTEXT = shutil.which("pdftotext")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian chromium)"),
    pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext is missing (Debian poppler-utils)"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "layers"
WIDE_REPORTS = ["conv_pool", "lstm"]  # their matrices are wider than a printed page
A4_WIDTH_PT = 595.28  # 210 mm
MARGIN_PT = 42.52  # 15 mm, the stylesheet's @page margin
SLACK_PT = 0.5  # rounding of glyph boxes in pdftotext
PRINTED_WIDTH_PX = 680  # A4 less two 15 mm margins, at 96 CSS px per inch
SLACK_PX = 1  # scrollWidth and clientWidth are rounded to whole pixels


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-quic"]
        )
        yield chromium
        chromium.close()


def _report(name: str, folder: Path) -> Path:
    path = folder / f"{name}.html"
    assert cli.main(["report", str(EXAMPLES / f"{name}.toml"), "-o", str(path)]) == 0
    return path


def _print(browser: Any, path: Path) -> Path:
    """Print the page to PDF as a reader would: on the paper its own @page asks for."""
    page = browser.new_page()
    page.goto(path.as_uri())
    pdf = path.with_suffix(".pdf")
    page.pdf(path=str(pdf), prefer_css_page_size=True)
    page.close()
    return pdf


def _printed_words(pdf: Path) -> tuple[float, list[tuple[float, str]]]:
    """Return the page width and every word's (xMax, text), in points, as pdftotext finds them."""
    done = subprocess.run([PDFTOTEXT, "-bbox", str(pdf), "-"], capture_output=True, check=True)
    xhtml = done.stdout.decode()
    widths = {float(w) for w in re.findall(r'<page width="([\d.]+)"', xhtml)}
    words = re.findall(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)" [^>]*>([^<]*)<', xhtml)
    assert len(widths) == 1, f"pages of different widths: {sorted(widths)}"
    return widths.pop(), [(float(x_max), text) for x_max, text in words]


@pytest.mark.parametrize("name", WIDE_REPORTS)
def test_printed_report_keeps_every_word_inside_the_right_margin(name, browser, tmp_path):
    page_width, words = _printed_words(_print(browser, _report(name, tmp_path)))
    assert page_width == pytest.approx(A4_WIDTH_PT, abs=1), "the report is not printed on A4"
    right = page_width - MARGIN_PT + SLACK_PT
    beyond = [(round(x_max, 1), text) for x_max, text in words if x_max > right]
    assert not beyond, f"{len(beyond)} words end beyond x = {right:.1f} pt: {beyond[:6]}"


@pytest.mark.parametrize("name", WIDE_REPORTS)
def test_printed_report_shows_every_number_of_the_page(name, browser, tmp_path):
    """A box that clips instead of shrinking drops whole numbers from the paper: none may go."""
    path = _report(name, tmp_path)
    pdf = _print(browser, path)
    # Matrix entries are decimals; whole numbers sit in indices that pdftotext joins ("7:8").
    shown = set(re.findall(r"<mn>([0-9]+\.[0-9]+)</mn>", path.read_text(encoding="utf-8")))
    printed = {text.strip("−-[](),") for _, text in _printed_words(pdf)[1]}
    missing = sorted(shown - printed)
    assert not missing, f"{len(missing)} numbers of the page are not on paper: {missing[:8]}"


@pytest.mark.parametrize("name", WIDE_REPORTS)
def test_print_preview_leaves_no_box_scrolling_sideways(name, browser, tmp_path):
    """Print media emulated at the printed width: Chromium then sends only the media change."""
    page = browser.new_page(viewport={"width": PRINTED_WIDTH_PX, "height": 900})
    page.goto(_report(name, tmp_path).as_uri())
    page.emulate_media(media="print")
    # The change event is queued for the next frame; two frames later the boxes are fitted.
    page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    too_wide = page.evaluate(
        """slack => [...document.querySelectorAll('body *')]
            .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + slack)
            .map(e => `${e.className || e.tagName}: ${e.scrollWidth}/${e.clientWidth}`)""",
        SLACK_PX,
    )
    page.close()
    assert not too_wide, f"{len(too_wide)} elements wider than their box: {too_wide[:6]}"
