"""Self-check pages: the grader's own verdicts, precomputed; instant feedback in real Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from symbackprop.cli.main import main
from symbackprop.worksheets.answer_reading import read_number
from symbackprop.worksheets.grading import grade_student
from symbackprop.worksheets.selfcheck import PRACTICE_NOTE, blank_check, script_json, selfcheck_html
from tests.worksheets.course_sheet import course_manifests, write_key

CHROMIUM = "/usr/bin/chromium"
# Typed into the page and read by the grader (read_number): the forms both must read alike.
NUMBER_TEXTS = ["0.25", "-.5", "+3.", "1.2e-3", "1E+2", "3/8", "-3/8", "\u22120.5", "1 000",
                "0,7631", "-0,5e-2", "1,234", "tanh(0.36)", "abc", "1/0", "1e999", "",
                "0x10", "1.2.3", "2/3"]  # fmt: skip


@pytest.fixture(scope="module")
def manifest():
    return course_manifests()["alice"]


def _numeric(manifest):
    return [b for b in manifest["blanks"] if b["type"] == "numeric"]


def test_each_listed_mistake_carries_the_diagnosis_grade_gives(manifest):
    for blank in _numeric(manifest):
        check = blank_check(manifest, blank)
        assert check["key"] == blank["answer"] and check["atol"] == blank["atol"]
        for mistake in check["mistakes"]:
            result = grade_student(manifest, {blank["id"]: repr(mistake["value"])})
            assert result.result(blank["id"]).message == mistake["message"]
        # every mistake grade diagnoses is on the page
        diagnosed = {m["value"] for m in blank["mistakes"]
                     if grade_student(manifest, {blank["id"]: repr(m["value"])})
                     .result(blank["id"]).status == "mistake"}  # fmt: skip
        assert diagnosed == {m["value"] for m in check["mistakes"]}


def test_page_data_cannot_close_its_script_element():
    text = str(script_json([{"message": "</script><script>alert(1)</script> & <!--"}]))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)[0]["message"].startswith("</script>")


def test_page_says_it_is_for_practice_and_loads_nothing(manifest):
    page = selfcheck_html(manifest)
    assert PRACTICE_NOTE in page and "not for exams" in PRACTICE_NOTE
    for needle in ("http://", "https://", "src=", "<link", "@import"):
        assert needle not in page.replace("http://www.w3.org/1998/Math/MathML", "")


def test_selfcheck_command_writes_one_page_per_student(tmp_path, capsys):
    write_key(tmp_path / "week5")
    assert main(["worksheet", "selfcheck", str(tmp_path / "week5"), "-o", str(tmp_path / "pages"),
                 "--student", "alice"]) == 0  # fmt: skip
    assert [p.name for p in (tmp_path / "pages").iterdir()] == ["alice.html"]
    assert main(["worksheet", "selfcheck", str(tmp_path / "week5"), "-o", str(tmp_path / "p2"),
                 "--student", "zed"]) == 2  # fmt: skip
    assert "no student 'zed'" in capsys.readouterr().err


# --- in Chromium ----------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright drives Chromium")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("no system Chromium at /usr/bin/chromium")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def _open(browser, path: Path):
    """Open a page, recording console errors and every request that is not the file itself."""
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if r.url != path.as_uri() else None)
    page.goto(path.as_uri())
    return page, errors, requests


def _verdict(page, blank_id: str, typed: str) -> tuple[str, str]:
    question = page.locator(f".question[data-blank='{blank_id}']")
    question.locator("input").fill(typed)
    verdict = question.locator("output.verdict")
    return verdict.get_attribute("class"), verdict.text_content()


@pytest.mark.slow
def test_page_gives_the_graders_feedback_as_the_student_types(browser, manifest, tmp_path):
    path = tmp_path / "alice.html"
    path.write_text(selfcheck_html(manifest), encoding="utf-8")
    page, errors, requests = _open(browser, path)
    decimals = manifest["decimals"]
    checked = 0
    for blank in _numeric(manifest):
        check = blank_check(manifest, blank)
        assert _verdict(page, blank["id"], f"{blank['answer']:.{decimals}f}") == (
            "verdict correct",
            "correct",
        )
        for mistake in check["mistakes"][:3]:
            typed = f"{mistake['value']:.{decimals}f}"
            graded = grade_student(manifest, {blank["id"]: typed}).result(blank["id"])
            status, text = _verdict(page, blank["id"], typed)
            assert (status, text) == (f"verdict {graded.status}", graded.message), typed
            checked += graded.status == "mistake"
        status, text = _verdict(page, blank["id"], "sigmoid of 0.3")
        assert status == "verdict invalid" and "is not a number" in text
        assert _verdict(page, blank["id"], "12.5") == (
            "verdict wrong",
            "not right, and not a mistake the grader knows; check your working",
        )
    assert checked >= len(_numeric(manifest))  # known mistakes were really typed and diagnosed
    choice = next(b for b in manifest["blanks"] if b["type"] == "choice")
    assert _verdict(page, choice["id"], f"({choice['answer'].lower()})")[0] == "verdict correct"
    first, second, third = _numeric(manifest)[:3]  # a picture of all three verdicts
    _verdict(page, first["id"], f"{first['answer']:.{decimals}f}")
    _verdict(page, second["id"], f"{blank_check(manifest, second)['mistakes'][0]['value']:.4f}")
    _verdict(page, third["id"], "tanh(0.3)")
    page.screenshot(path=str(tmp_path / "selfcheck.png"), full_page=True)
    assert errors == [] and requests == []


@pytest.mark.slow
def test_page_reads_numbers_as_the_grader_does(browser, manifest, tmp_path):
    path = tmp_path / "alice.html"
    path.write_text(selfcheck_html(manifest), encoding="utf-8")
    page, errors, _ = _open(browser, path)
    for text in NUMBER_TEXTS:
        read = page.evaluate("t => window.symbackpropSelfCheck.readNumber(t)", text)
        try:
            reading = read_number(text)
        except ValueError:
            assert "error" in read, (text, read)
            continue
        if reading.assumed and reading.assumed[0].startswith("evaluated"):
            # Arithmetic (tanh(0.36), 0x10) is the grader's alone: the page says so.
            assert "grader also evaluates arithmetic" in read.get("error", ""), (text, read)
        else:
            assert read == {"value": reading.value}, text
    assert errors == []
