"""Self-check pages: one student's worksheet as an offline HTML page with instant feedback.

Worksheets stage. Every verdict the page can give is decided here, in Python, by the grading
module itself: for each numeric blank, the key is marked by
:func:`~symbackprop.worksheets.grading.grade_student` to confirm it is correct, and each known
mistake's value is marked too, keeping the diagnosis ``grade`` gives for it (a mistake that
``grade`` would mark otherwise is left out). The page then only compares numbers: within the
blank's tolerance of the key is correct, within it of a listed mistake shows that mistake's
diagnosis, anything else is wrong. Numbers are read as :func:`parse_number` reads plain
decimals, scientific notation and fractions. The key travels with the page, so the page says
it is for practice, not for exams. Error carried forward needs the student's other answers
and is credited by ``grade`` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from symbackprop.model import notation
from symbackprop.model.errors import SymbackpropError
from symbackprop.model.printing import format_number
from symbackprop.worksheets.grading import grade_student
from symbackprop.worksheets.lms import variant_of
from symbackprop.worksheets.render import for_html, points_text, prompt, template
from symbackprop.worksheets.variants import LETTERS

PRACTICE_NOTE = (
    "For practice only, not for exams or graded work: this page holds the answer key, so "
    "anyone who opens its source can read the answers."
)


def _graded_message(manifest: Mapping[str, Any], blank_id: str, value: float) -> tuple[str, str]:
    """Return (status, message) that ``grade`` gives for this number alone in this blank."""
    result = grade_student(manifest, {blank_id: repr(value)}).result(blank_id)
    return result.status, result.message


def blank_check(manifest: Mapping[str, Any], blank: Mapping[str, Any]) -> dict[str, Any]:
    """Return what the page needs to mark one blank: key, tolerance, mistakes with diagnoses."""
    check: dict[str, Any] = {"id": blank["id"], "type": blank["type"]}
    if blank["type"] == "numeric":
        status, _ = _graded_message(manifest, blank["id"], float(blank["answer"]))
        if status != "correct":
            raise SymbackpropError(f"the key of blank {blank['id']!r} does not grade as correct; "
                                   "regenerate the worksheet")  # fmt: skip
        mistakes = []
        for mistake in blank["mistakes"]:
            status, message = _graded_message(manifest, blank["id"], float(mistake["value"]))
            if status == "mistake":
                mistakes.append({"value": float(mistake["value"]), "message": message})
        check.update(key=float(blank["answer"]), atol=float(blank["atol"]), mistakes=mistakes,
                     shown=f"{blank['answer']:.{manifest['decimals']}f}")  # fmt: skip
    elif blank["type"] == "choice":
        check.update(key=blank["answer"], letters=LETTERS[: len(blank["options"])],
                     shown=blank["answer"])  # fmt: skip
    else:
        check.update(key=str(blank["answer"]), shown=str(blank["answer"]))
    return check


def script_json(data: Any) -> Markup:
    """Return JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def selfcheck_html(manifest: Mapping[str, Any]) -> str:
    """Return one student's self-check page: questions, inputs and the per-blank checks."""
    variant = variant_of(manifest)
    questions = []
    for blank in manifest["blanks"]:
        prose, tex = prompt(blank, variant)
        options = [{"letter": LETTERS[i], "text": t} for i, t in enumerate(blank["options"])]
        questions.append({"id": blank["id"], "points_text": points_text(blank["points"]),
                          "prose": prose, "prompt_tex": tex, "options": options,
                          "type": blank["type"]})  # fmt: skip
    shown = [{"name_tex": notation.latex_name(n), "value": format_number(v)}
             for n, v in manifest["shown"].items()]  # fmt: skip
    context = for_html({"questions": questions, "shown": shown})
    checks = [blank_check(manifest, blank) for blank in manifest["blanks"]]
    page = template("html", "worksheet_selfcheck.html.j2")
    return str(page.render(
        title=manifest["title"], student_id=manifest["student_id"], seed=manifest["seed"],
        summary=variant.network.describe(), shown=context["shown"],
        decimals=manifest["decimals"], questions=context["questions"], note=PRACTICE_NOTE,
        checks=script_json(checks)))  # fmt: skip
