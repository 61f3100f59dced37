"""Worksheet files: exam-class LaTeX (student and key), HTML and nbgrader notebooks.

Rendering layer (worksheets). One plain-data context per student feeds the templates
``worksheet.tex.j2`` and ``worksheet.html.j2``; the key is the same source with
``\\printanswers``. PDFs are compiled by :func:`symbackprop.report.compile_latex`, several at a
time; every file is made in a temporary folder and moved into place only when all are done.
"""

from __future__ import annotations

import ast
import functools
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from symbackprop import notation
from symbackprop.derive import Stage
from symbackprop.errors import SymbackpropError
from symbackprop.files import atomic_write
from symbackprop.printing import format_number, to_latex
from symbackprop.report import _environment, _for_format, compile_latex, derivation_html
from symbackprop.variants import LETTERS, Variant, program_for

if TYPE_CHECKING:
    from symbackprop.worksheet import Worksheet

NOTEBOOK_SCHEMA_VERSION = 3  # nbgrader cell-metadata schema


# --- the context ----------------------------------------------------------------
def _prompt(blank: Mapping[str, Any], variant: Variant) -> tuple[str, str]:
    """Return (prose, LaTeX) asking for one blank."""
    kind, of = blank["kind"], blank["of"]
    name_tex = notation.latex_name(of)
    eta = format_number(variant.learning_rate)
    if kind == "forward":
        return "Compute", name_tex
    if kind == "loss":
        return "Compute the loss", r"\mathcal{L}"
    if kind == "delta":
        z = notation.latex_name("z" + of.removeprefix("delta"))
        return "Compute", f"{name_tex} = \\partial \\mathcal{{L}} / \\partial {z}"
    if kind == "gradient":
        return "Compute", f"\\partial \\mathcal{{L}} / \\partial {name_tex}"
    if kind == "update":
        return f"After one gradient-descent step with η = {eta}, compute the new", name_tex
    if kind in ("symbolic_delta", "symbolic_gradient"):
        target = (
            name_tex
            if kind == "symbolic_delta"
            else (f"\\partial \\mathcal{{L}} / \\partial {name_tex}")
        )
        return ("Write a formula, in ASCII names of the named quantities (e.g. a1_1, z1_1, "
                "w2_1_1, delta2_1, y1), for", target)  # fmt: skip
    step = program_for(variant.network).derivation.step(blank["step"])
    return "Which rule does this step use?", f"{to_latex(step.lhs)} = {to_latex(step.rhs)}"


def _shown_answer(blank: Mapping[str, Any], variant: Variant) -> tuple[str, str]:
    """Return the key's answer as (text, LaTeX of a formula)."""
    if blank["type"] == "numeric":
        return f"{blank['answer']:.{variant.decimals}f}", ""
    if blank["type"] == "choice":
        index = LETTERS.index(blank["answer"])
        return f"({blank['answer']}) {blank['options'][index]}", ""
    step = program_for(variant.network).derivation.step(blank["step"])
    return str(blank["answer"]), to_latex(step.rhs)


def context(variant: Variant, manifest: Mapping[str, Any], key: bool) -> dict[str, Any]:
    """Return the plain data the worksheet templates print (answers only when ``key``)."""
    given = [dict(row) for row in _given(variant.network)]
    shown = [{"name_tex": notation.latex_name(n), "value": format_number(v)}
             for n, v in variant.shown.items()]  # fmt: skip
    questions = []
    for blank in manifest["blanks"]:
        prose, math = _prompt(blank, variant)
        answer, answer_tex = _shown_answer(blank, variant) if key else ("", "")
        options = [{"letter": LETTERS[i], "text": text} for i, text in enumerate(blank["options"])]
        questions.append({"id": blank["id"], "points": f"{blank['points']:g}",
                          "prose": prose, "prompt_tex": math, "options": options,
                          "answer": answer, "answer_tex": answer_tex,
                          "symbolic": blank["type"] == "symbolic"})  # fmt: skip
    return {
        "title": manifest["title"],
        "student_id": variant.student_id,
        "seed": manifest["seed"],
        "summary": variant.network.describe(),
        "given": given,
        "shown": shown,
        "decimals": str(variant.decimals),
        "eta": format_number(variant.learning_rate),
        "questions": questions,
        "key": key,
    }


@functools.lru_cache(maxsize=64)
def _given(network: Any) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The forward program and the loss of a network as LaTeX rows (the same for every student)."""
    d = program_for(network).derivation
    return tuple((("lhs_tex", to_latex(s.lhs)), ("rhs_tex", to_latex(s.rhs)))
                 for s in d.steps if s.stage in (Stage.FORWARD, Stage.LOSS))  # fmt: skip


@functools.lru_cache(maxsize=16)
def _template(fmt: str, name: str) -> Any:
    return _environment(fmt).get_template(name)


def render_tex(sheets: Sequence[tuple[Variant, Mapping[str, Any]]], key: bool, title: str) -> str:
    """Return the exam-class LaTeX of one or more students' sheets (one after the other)."""
    contexts = []
    for variant, manifest in sheets:
        ctx = _for_format(context(variant, manifest, key), "tex")
        ctx["worked_tex"] = _worked_latex(variant) if key else ""
        contexts.append(ctx)
    template = _template("tex", "worksheet.tex.j2")
    return template.render(sheets=contexts, key=key, title=_for_format({"t": title}, "tex")["t"])


def render_html(variant: Variant, manifest: Mapping[str, Any], key: bool) -> str:
    ctx = _for_format(context(variant, manifest, key), "html")
    ctx["worked"] = Markup(_worked_html(variant)) if key else ""
    return _template("html", "worksheet.html.j2").render(**ctx)


def _evaluation(variant: Variant) -> Any:
    network = variant.network
    d = program_for(network).derivation
    params = {n: variant.shown[n] for n in network.parameter_names()}
    x = [variant.shown[n] for n in network.input_names()]
    y = [variant.shown[n] for n in network.target_names()]
    return d, d.evaluate(params, x, y, variant.learning_rate)


_WORKED: dict[tuple[str, int], str] = {}  # (student, seed) -> worked LaTeX, made once per run


def _worked_latex(variant: Variant) -> str:
    cached = _WORKED.get((variant.student_id, variant.seed))
    if cached is None:
        d, ev = _evaluation(variant)
        cached = _WORKED[(variant.student_id, variant.seed)] = d.to_latex(ev)
    return cached


def _worked_html(variant: Variant) -> str:
    d, ev = _evaluation(variant)
    return derivation_html(d, ev)


# --- notebooks ----------------------------------------------------------------
def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
              points: float | None = None) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"schema_version": NOTEBOOK_SCHEMA_VERSION, "grade": grade,
                            "solution": solution, "locked": locked,
                            "grade_id": grade_id}  # fmt: skip
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def render_notebook(variant: Variant, manifest: Mapping[str, Any], release: bool) -> str:
    """Return an nbgrader-style notebook: the release (blank answers) or the instructor source."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell(
        f"# {manifest['title']}\n\nStudent `{variant.student_id}` · variant `{manifest['seed']}`"
        f"\n\n{variant.network.describe()}\n\nGiven values: "
        + ", ".join(f"`{n} = {format_number(v)}`" for n, v in variant.shown.items())
        + f"\n\nRound every intermediate to {variant.decimals} decimals. Give formulas as "
        "strings, choices as one letter.",
        metadata=_nbgrader("header", locked=True))]  # fmt: skip
    for blank in manifest["blanks"]:
        prose, math = _prompt(blank, variant)
        options = "".join(f"\n- ({LETTERS[i]}) {t}" for i, t in enumerate(blank["options"]))
        cells.append(nbformat.v4.new_markdown_cell(
            f"**{blank['id']}** ({format_number(blank['points'])} points). {prose} ${math}$"
            f"{options}", metadata=_nbgrader(f"question_{blank['id']}", locked=True)))  # fmt: skip
        if release:
            body = f"answer_{blank['id']} = None  # YOUR ANSWER HERE"
        else:
            answer = f"answer_{blank['id']} = {_answer_literal(blank)}"
            body = f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION"
        cells.append(nbformat.v4.new_code_cell(
            body, metadata=_nbgrader(f"answer_{blank['id']}", solution=True)))  # fmt: skip
        test = f"assert answer_{blank['id']} is not None, 'answer {blank['id']} first'"
        if not release:
            test += ("\n### BEGIN HIDDEN TESTS\n"
                     f"# graded by `symbackprop grade` against the manifest: {blank['id']}\n"
                     "### END HIDDEN TESTS")  # fmt: skip
        cells.append(
            nbformat.v4.new_code_cell(
                test,
                metadata=_nbgrader(
                    f"test_{blank['id']}", grade=True, locked=True, points=float(blank["points"])
                ),
            )
        )
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["symbackprop"] = {"student_id": variant.student_id,
                                        "worksheet_id": manifest["worksheet_id"]}  # fmt: skip
    nbformat.validate(notebook)
    return str(nbformat.writes(notebook)) + "\n"


def _answer_literal(blank: Mapping[str, Any]) -> str:
    return repr(blank["answer"])


def notebook_answers(text: str, name: str) -> tuple[str, dict[str, Any]]:
    """Read (student id, {blank: answer text}) from a filled notebook; never runs its code."""
    try:
        notebook = json.loads(text)
        student_id = str(notebook["metadata"]["symbackprop"]["student_id"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise SymbackpropError(f"{name}: not a worksheet notebook from symbackprop") from None
    answers: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = str(meta.get("grade_id", ""))
        if not (meta.get("solution") and grade_id.startswith("answer_")):
            continue
        source = "".join(cell.get("source", ""))
        answers[grade_id.removeprefix("answer_")] = _assigned_text(source)
    return student_id, answers


def _assigned_text(source: str) -> str:
    """Return the right side of `answer_x = ...` as text: literals as their value."""
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or "=" not in lines[-1]:
        return ""
    right = lines[-1].split("=", 1)[1].split("#", 1)[0].strip()
    try:
        value = ast.literal_eval(right)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return right  # text such as 3/8 or a formula: graded as text, never run
    return "" if value is None else (repr(value) if isinstance(value, float) else str(value))


# --- writing ----------------------------------------------------------------
def write_worksheet(
    ws: Worksheet,
    folder: Path,
    parts: Sequence[str],
    pdf: bool,
    jobs: int,
    progress: Callable[[int, int], None] | None,
    pdf_each_key: bool = False,
) -> Path:
    """Make every file in a temporary folder, compile the PDFs, then move the files in place."""
    from symbackprop.worksheet import manifest_json

    _WORKED.clear()
    with tempfile.TemporaryDirectory(prefix="symbackprop-worksheet-") as build_name:
        build = Path(build_name)
        files: dict[Path, Path] = {}  # build path -> final path
        sources: list[Path] = []
        for variant, manifest in zip(ws.variants, ws.manifests, strict=True):
            sid = variant.student_id
            made: dict[str, str] = {}
            if "student" in parts:
                made[f"students/{sid}/worksheet.tex"] = render_tex(
                    [(variant, manifest)], False, ws.spec.title
                )
                made[f"students/{sid}/worksheet.html"] = render_html(variant, manifest, False)
                made[f"students/{sid}/worksheet.ipynb"] = render_notebook(variant, manifest, True)
            if "key" in parts:
                made[f"key/{sid}/manifest.json"] = manifest_json(manifest)
                made[f"key/{sid}/key.tex"] = render_tex([(variant, manifest)], True, ws.spec.title)
                made[f"key/{sid}/key.html"] = render_html(variant, manifest, True)
                made[f"key/{sid}/source.ipynb"] = render_notebook(variant, manifest, False)
            for relative, text in made.items():
                path = build / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                files[path] = folder / relative
                if path.suffix == ".tex":
                    sources.append(path)
        if "key" in parts:
            class_key = render_tex(list(zip(ws.variants, ws.manifests, strict=True)), True,
                                   ws.spec.title)  # fmt: skip
            path = build / "key" / "keys.tex"
            path.write_text(class_key, encoding="utf-8")
            files[path] = folder / "key" / "keys.tex"
            sources.insert(0, path)  # the longest compile starts first, beside the others
        if not pdf_each_key:
            sources = [s for s in sources if s.name != "key.tex"]
        if pdf:
            for pdf_path in compile_all(sources, jobs, progress):
                files[pdf_path] = folder / pdf_path.relative_to(build)
        for built, final in files.items():
            final.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(final, built.read_bytes())
    _WORKED.clear()
    return folder


def compile_all(
    sources: Sequence[Path], jobs: int, progress: Callable[[int, int], None] | None = None
) -> list[Path]:
    """Compile .tex files, ``jobs`` at a time, each in its own folder; return the PDFs."""

    def one(tex: Path) -> Path:
        with tempfile.TemporaryDirectory(prefix="symbackprop-tex-") as scratch:
            copy = Path(scratch) / tex.name
            shutil.copyfile(tex, copy)
            built = compile_latex(copy)
            target = tex.with_suffix(".pdf")
            shutil.copyfile(built, target)
            return target

    done: list[Path] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for number, path in enumerate(pool.map(one, sources), start=1):
            done.append(path)
            if progress is not None:
                progress(number, len(sources))
    return done
