"""Worksheets end to end: variants, verified keys, manifests, PDFs, notebooks, grading with ECF."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from symbackprop.derivation.steps import LEARNING_RATE
from symbackprop.model import notation
from symbackprop.model.errors import SymbackpropError
from symbackprop.worksheets.generate import read_roster, worksheet
from symbackprop.worksheets.grading import grade, grade_student, parse_number
from symbackprop.worksheets.manifest import manifest_schema, validate_manifest
from symbackprop.worksheets.spec import load_worksheet_spec
from symbackprop.worksheets.step_program import program_for
from symbackprop.worksheets.variants import violated_predicates

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "worksheets" / "week5.toml"
ROSTER = ["alice", "bob", "carol"]
SALT = "test-salt"
N_SEEDS = 1000  # students whose variants every property test checks (issue 7's count)
MISTAKES_FAIL = 0.99  # share of catalogued mistakes that must lose their blank's points
RANDOM_MEAN_PERCENT = 5.0  # random numbers in [-1, 1] may hit a tolerance by chance, rarely
HAVE_LATEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None


@pytest.fixture(scope="module")
def spec():
    return load_worksheet_spec(EXAMPLE)


@pytest.fixture(scope="module")
def sheet(spec):
    return worksheet(spec, ROSTER, SALT)


def _key_answers(manifest):
    return {b["id"]: repr(b["answer"]) if b["type"] == "numeric" else b["answer"]
            for b in manifest["blanks"]}  # fmt: skip


def _numeric(manifest):
    return [b for b in manifest["blanks"] if b["type"] == "numeric"]


# --- end to end ----------------------------------------------------------------
def test_perfect_submission_scores_100_and_blank_scores_0(sheet):
    answers = {"alice": _key_answers(sheet.manifest("alice")), "bob": {}}
    grades = grade(list(sheet.manifests), answers)
    assert grades.student("alice").percent == pytest.approx(100.0)
    assert grades.student("bob").score == 0
    assert {r.status for r in grades.student("bob").results} == {"blank"}


def test_single_upstream_slip_gets_full_downstream_credit(sheet):
    manifest = sheet.manifest("carol")
    variant = sheet.variants[ROSTER.index("carol")]
    program = program_for(variant.network)
    base = {**variant.shown, LEARNING_RATE.name: variant.learning_rate}
    slipped = variant.values["delta2_1"] * 1.37 + 0.05  # one slip in the output delta
    own = program.run(base, {"delta2_1": slipped}, decimals=variant.decimals)
    answers = {b["id"]: f"{own[b['step']]:.4f}" for b in _numeric(manifest)}
    answers.update({b["id"]: b["answer"] for b in manifest["blanks"] if b["type"] != "numeric"})
    result = grade(manifest, {"carol": answers}).student("carol")
    assert result.result("delta2_1").status in ("wrong", "mistake")
    for blank in ("delta1_1", "dL_dw1_1_1", "w1_1_1_new"):
        marked = result.result(blank)
        assert marked.status == "ecf", (blank, marked)
        assert marked.points == marked.max_points
        assert "error carried forward" in marked.message
    assert result.result("a1_1").status == "correct"


def test_each_catalogued_mistake_gets_its_own_feedback(sheet):
    for manifest in sheet.manifests:
        for blank in _numeric(manifest):
            for mistake in blank["mistakes"]:
                answers = {blank["id"]: repr(mistake["value"])}
                marked = grade(manifest, {manifest["student_id"]: answers})
                result = marked.student(manifest["student_id"]).result(blank["id"])
                assert result.status == "mistake", (blank["id"], mistake["name"], result)
                close = [m for m in blank["mistakes"]
                         if abs(m["value"] - mistake["value"]) <= blank["atol"]]  # fmt: skip
                assert result.mistake in {m["name"] for m in close}
                assert result.message.startswith(close[0]["title"])


def test_symbolic_blank_correct_mistaken_and_invalid(sheet):
    manifest = sheet.manifest("alice")
    blank = next(b for b in manifest["blanks"] if b["type"] == "symbolic")
    derivative = {"sigmoid": "a1_2*(1 - a1_2)", "tanh": "(1 - a1_2**2)"}
    cases = {
        blank["answer"]: "correct",
        derivative[manifest["network"]["activations"][0]] + "*w2_1_2*delta2_1": "correct",
        "w2_1_2*delta2_1": "mistake",  # sigma' left out
        "__import__('os').system('true')": "invalid",
        "a1_2*(1 - ": "invalid",
    }
    for text, status in cases.items():
        result = (
            grade(manifest, {"alice": {blank["id"]: text}}).student("alice").result(blank["id"])
        )
        assert result.status == status, (text, result)


def test_symbolic_delta_answer_may_not_use_the_delta_or_its_gradient(sheet):
    manifest = sheet.manifest("alice")
    blank = next(b for b in manifest["blanks"] if b["kind"] == "symbolic_delta")
    delta, gradient = blank["of"], notation.gradient_name(blank["wrt"])
    cases = {
        delta: f"uses '{delta}', the quantity asked for",
        f"{delta}*1": f"uses '{delta}', the quantity asked for",
        f"2*{delta} - {delta}": f"uses '{delta}', the quantity asked for",
        gradient: f"uses '{gradient}', the quantity asked for",
        "dL_dw2_1_2 / a1_2": "uses 'dL_dw2_1_2', another parameter's gradient",
    }
    for text, message in cases.items():
        result = (
            grade(manifest, {"alice": {blank["id"]: text}}).student("alice").result(blank["id"])
        )
        assert result.status == "invalid", (text, result)
        assert result.points == 0 and message in result.message, (text, result)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.25", 0.25), ("-1.5e-3", -1.5e-3), ("3/8", 0.375), ("−0.5", -0.5), ("1.2 x 10^-2", 0.012)],
)
def test_numbers_in_every_accepted_form(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "1,234", "1/0", "2**1000", "__import__('os')"])
def test_unparseable_numbers_are_invalid_not_wrong(sheet, text):
    manifest = sheet.manifest("alice")
    result = grade(manifest, {"alice": {"a1_1": text}}).student("alice").result("a1_1")
    assert result.status == "invalid"
    assert result.message


def test_bad_rows_get_messages_and_the_rest_is_graded(sheet, tmp_path):
    answers = tmp_path / "answers.csv"
    key = _key_answers(sheet.manifest("alice"))
    answers.write_text("student_id,a1_1,nope\nalice," + key["a1_1"] + ",1\nzed,1,2\nalice,0,0\n")
    grades = grade(list(sheet.manifests), answers)
    assert any("unknown student 'zed'" in m for m in grades.messages)
    assert any("unknown blank 'nope'" in m for m in grades.messages)
    assert any("second row for 'alice'" in m for m in grades.messages)
    assert grades.student("alice").result("a1_1").status == "correct"
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("student_id,a1_1\nj\xf6rg,1\n".encode("latin-1"))
    with pytest.raises(SymbackpropError, match="not UTF-8"):
        grade(list(sheet.manifests), bad)


def test_roster_rows_with_problems_are_skipped_with_messages(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\nalice\n\nalice\nbad id!\nbob\n")
    ids, messages = read_roster(roster)
    assert ids == ["alice", "bob"]
    assert len(messages) == 3 and all(re.match(r"roster\.csv:\d+: ", m) for m in messages)


def test_variants_are_deterministic_and_independent(spec):
    first = worksheet(spec, ROSTER, SALT)
    again = worksheet(spec, ROSTER, SALT)
    assert first.manifests == again.manifests
    changed = worksheet(spec, ["alice", "bob", "dave"], SALT)
    assert changed.manifests[:2] == first.manifests[:2]
    assert (
        worksheet(spec, ROSTER, "other salt").manifests[0]["shown"] != first.manifests[0]["shown"]
    )


def test_manifest_validates_against_the_shipped_schema(sheet):
    for manifest in sheet.manifests:
        validate_manifest(manifest)
    broken = json.loads(json.dumps(sheet.manifests[0]))
    del broken["blanks"][0]["atol"]
    with pytest.raises(SymbackpropError, match="atol"):
        validate_manifest(broken)
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema not installed")
    for manifest in sheet.manifests:
        jsonschema.validate(manifest, manifest_schema())


def test_wrong_key_aborts_generation(spec, monkeypatch):
    import importlib

    # sb.worksheet is the function; the module is reached by its full name.
    module = importlib.import_module("symbackprop.worksheets.generate")

    def wrong_values(variant):
        values = dict(variant.values)
        values["dL_dw1_1_1"] += 0.01
        return type(variant)(**{**{f: getattr(variant, f) for f in variant.__slots__},
                                "values": values})  # fmt: skip

    original = module.draw_variant
    monkeypatch.setattr(module, "draw_variant", lambda *a: wrong_values(original(*a)))
    with pytest.raises(SymbackpropError, match="central differences"):
        worksheet(spec, ["alice"], SALT)


# --- files ----------------------------------------------------------------
@pytest.fixture(scope="module")
def written(sheet, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sheet")
    sheet.write(folder, pdf=HAVE_LATEX)
    return folder


def test_notebook_is_valid_with_nbgrader_metadata(written):
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (test extras)")
    for path in [written / "students/alice/worksheet.ipynb", written / "key/alice/source.ipynb"]:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        ids = []
        for cell in notebook.cells:
            if "nbgrader" not in cell.metadata:  # text, kept as it is by autograding
                assert cell.cell_type == "markdown"
                continue
            meta = cell.metadata["nbgrader"]
            assert set(meta) <= {"schema_version", "grade", "solution", "locked", "grade_id",
                                 "points", "task", "checksum", "cell_type"}  # fmt: skip
            assert {"schema_version", "grade", "solution", "locked"} <= set(meta)
            assert re.fullmatch(r"[a-zA-Z0-9_\-]+", meta["grade_id"])
            assert ("points" in meta) == meta["grade"]
            if meta["grade"]:
                assert meta["points"] >= 0
            if cell.cell_type == "markdown" and (meta["grade"] or meta["solution"]):
                assert meta["grade"] and meta["solution"]
            ids.append(meta["grade_id"])
        assert len(ids) == len(set(ids))
    release = (written / "students/alice/worksheet.ipynb").read_text()
    assert "BEGIN SOLUTION" not in release and "HIDDEN" not in release


def test_filled_notebook_is_graded(written, sheet, tmp_path):
    manifest = sheet.manifest("alice")
    text = (written / "key/alice/source.ipynb").read_text()
    filled = tmp_path / "filled"
    filled.mkdir()
    (filled / "alice.ipynb").write_text(text)
    assert grade(written, filled).student("alice").percent == pytest.approx(100.0)
    assert manifest["student_id"] == "alice"


def test_grades_write_csv_feedback_and_summary(written, sheet, tmp_path):
    grades = grade(written, {"alice": _key_answers(sheet.manifest("alice")), "bob": {}})
    grades.write(tmp_path)
    rows = (tmp_path / "grades.csv").read_text().splitlines()
    assert rows[0].startswith("student_id,a1_1,") and rows[1].endswith(",100.0")
    page = (tmp_path / "feedback/alice.html").read_text()
    assert "Worked solution" in page and "<math" in page
    assert (tmp_path / "scores.svg").read_text().startswith("<?xml")


@pytest.mark.skipif(not HAVE_LATEX, reason="latexmk/pdflatex and pdftotext (poppler-utils) needed")
def test_student_pdf_hides_the_key_and_key_pdf_shows_it(written, sheet):
    keys = _pdf_text(written / "key/keys.pdf")
    for manifest in sheet.manifests:
        student = _pdf_text(written / f"students/{manifest['student_id']}/worksheet.pdf")
        for blank in _numeric(manifest):
            shown = f"{blank['answer']:.4f}".replace("-", "−")
            assert shown not in student.replace("-", "−"), (manifest["student_id"], blank["id"])
            assert shown in keys.replace("-", "−"), blank["id"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_regenerating_gives_byte_identical_files(written, spec, tmp_path):
    again = tmp_path / "again"
    worksheet(spec, ROSTER, SALT).write(again, pdf=HAVE_LATEX)
    first, second = _files(written), _files(again)
    assert sorted(first) == sorted(second)
    suffixes = {Path(name).suffix for name in first}
    assert {".json", ".tex", ".html", ".ipynb"} <= suffixes
    assert (".pdf" in suffixes) == HAVE_LATEX
    changed = [name for name in first if first[name] != second[name]]
    assert not changed, f"these files differ between two runs: {changed}"


def test_changing_one_student_id_changes_only_their_files(written, spec, tmp_path):
    other = tmp_path / "other"
    worksheet(spec, ["alice", "bob", "dave"], SALT).write(other, pdf=HAVE_LATEX)
    before, after = _files(written), _files(other)
    class_files = {"key/keys.tex", "key/keys.pdf"}  # every student's key, so dave's too
    for name in sorted(set(before) | set(after)):
        if "carol" in name or "dave" in name or name in class_files:
            continue
        assert before.get(name) == after.get(name), f"{name} changed with carol's id"
    assert any("dave" in name for name in after) and not any("dave" in n for n in before)
    assert any("carol" in name for name in before) and not any("carol" in n for n in after)


def _pdf_text(path: Path) -> str:
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          check=True)  # fmt: skip
    return done.stdout.decode()


# --- properties over many seeds ----------------------------------------------------------------
@pytest.fixture(scope="module")
def many(spec):
    """N_SEEDS students' variants and manifests, drawn and key-checked once for every property."""
    return worksheet(spec, [f"seed-{i}" for i in range(N_SEEDS)], SALT)


def test_no_accepted_variant_breaks_a_predicate(many):
    broken = {v.student_id: violated_predicates(v) for v in many.variants}
    assert not {sid: names for sid, names in broken.items() if names}


def test_rounding_as_told_passes_every_variant(many):
    for variant, manifest in zip(many.variants, many.manifests, strict=True):
        program = program_for(variant.network)
        base = {**variant.shown, LEARNING_RATE.name: variant.learning_rate}
        rounded = program.run(base, decimals=variant.decimals)
        answers = {
            b["id"]: f"{rounded[b['step']]:.{variant.decimals}f}" for b in _numeric(manifest)
        }
        marked = grade_student(manifest, answers)
        for blank in _numeric(manifest):
            result = marked.result(blank["id"])
            assert result.status == "correct", (variant.student_id, blank["id"], result)


def test_each_catalogued_mistake_fails_its_blank(many):
    failed = total = 0
    passed = []
    for manifest in many.manifests:
        for blank in _numeric(manifest):
            for mistake in blank["mistakes"]:
                answers = {blank["id"]: repr(mistake["value"])}
                result = grade_student(manifest, answers).result(blank["id"])
                total += 1
                if result.points < result.max_points:
                    failed += 1
                else:
                    passed.append((manifest["student_id"], blank["id"], mistake["name"]))
    assert total > N_SEEDS
    assert failed / total >= MISTAKES_FAIL, (f"{failed}/{total} failed", passed[:5])


def test_key_answers_always_score_100(many):
    for manifest in many.manifests:
        marked = grade_student(manifest, _key_answers(manifest))
        assert marked.percent == 100.0, (manifest["student_id"], marked)


def test_random_answers_score_about_zero(many):
    rng = np.random.default_rng(0)
    scores = []
    for manifest in many.manifests:
        answers = {b["id"]: f"{rng.uniform(-1, 1):.4f}" for b in _numeric(manifest)}
        scores.append(grade_student(manifest, answers).percent)
    assert np.mean(scores) < RANDOM_MEAN_PERCENT


# --- command line ----------------------------------------------------------------
def _cli(argv):
    import argparse

    from symbackprop.cli import worksheet as cli_worksheet

    parser = argparse.ArgumentParser()
    cli_worksheet.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_generate_then_grade(tmp_path, capsys):
    roster = EXAMPLE.parent / "roster.csv"
    out = tmp_path / "out"
    assert _cli(["worksheet", "generate", str(EXAMPLE), "--roster", str(roster),
                 "--salt", SALT, "-o", str(out), "--no-pdf"]) == 0  # fmt: skip
    assert (out / "key/alice/manifest.json").exists()
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"alice": {"a1_1": "0.5"}, "nobody": {}}))
    assert _cli(["grade", str(out), str(answers), "-o", str(tmp_path / "results")]) == 0
    assert "unknown student 'nobody'" in capsys.readouterr().err
    with pytest.raises(SymbackpropError, match="no course salt"):
        _cli(["worksheet", "generate", str(EXAMPLE), "--roster", str(roster), "-o", str(out)])


# --- new-user trial fixes ----------------------------------------------------------------
def _run(*argv, cwd=None):
    import sys

    return subprocess.run([sys.executable, "-m", "symbackprop", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=120)  # fmt: skip


def _spec_dict(**network):
    import tomllib

    document = tomllib.loads(EXAMPLE.read_text())
    document["network"].update(network)
    return document


@pytest.mark.parametrize("n", ["0", "-3", "100001"])
def test_stress_n_out_of_range_is_one_line_exit_2(n):
    done = _run("worksheet", "stress", str(EXAMPLE), "--n", n)
    assert done.returncode == 2
    assert done.stderr.startswith("symbackprop: error: --n ") and "1 to 100,000" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_stress_with_one_variant_says_variant(capsys):
    assert _cli(["worksheet", "stress", str(EXAMPLE), "--n", "1"]) == 0
    assert "1 variant from " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("sizes", "message"),
    [([[2, 20, 20, 1]], "has a layer of 20 neurons"), ([[2, 2, 2, 2, 1]], "use 2 to 4"),
     ([[4, 4, 4, 1]], "has 45 weights and biases"), ([[2, "2", 1]], "list of layer sizes"),
     ([[2]], "has 1 layer;")],
)  # fmt: skip
def test_network_too_large_for_hand_computation_is_refused(sizes, message):
    with pytest.raises(SymbackpropError, match=re.escape(message)) as error:
        load_worksheet_spec(_spec_dict(sizes=sizes))
    assert "network.sizes entry 1" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
def test_two_hidden_layers_give_variants_without_close_mistakes():
    from symbackprop.worksheets.variants import SEPARATION, draw_variant

    spec = load_worksheet_spec(_spec_dict(sizes=[[2, 2, 2, 1]]))
    variants = [draw_variant(spec, SALT, f"s{i}") for i in range(5)]
    assert sum(v.skipped + 1 for v in variants) < 5 * 40  # acceptance well above 2.5 %
    for variant in variants:
        assert not violated_predicates(variant)
        for blank in variant.blanks:
            for mistake in blank.mistakes:  # the catalogue that remains is > 3 tolerances away
                assert abs(mistake.value - blank.answer) > SEPARATION * blank.atol


def test_indistinguishable_rule():
    from symbackprop.worksheets.variants import indistinguishable

    # second-order mistakes and relative slips below 5 % are dropped when close ...
    assert indistinguishable("updated_weights", 0.10011, 0.1, 5e-5)
    assert indistinguishable("extra_factor", 0.01001, 0.01, 5e-5)
    # ... a first-order mistake close only because the answer is near 0 still rejects the draw
    assert not indistinguishable("sign_error", -0.00005, 0.00005, 5e-5)
    assert not indistinguishable("updated_weights", 0.2, 0.1, 5e-5)  # far away: kept


def test_help_texts_describe_and_give_examples():
    for verb in (["worksheet", "generate"], ["worksheet", "key"], ["worksheet", "stress"],
                 ["worksheet", "feedback"], ["grade"]):  # fmt: skip
        text = _run(*verb, "--help").stdout
        assert "example: symbackprop" in text, verb
        assert text.split("\n\n")[1].strip(), verb  # a description after the usage
    assert "the folder to write" in _run("worksheet", "generate", "--help").stdout
    grade_help = _run("grade", "--help").stdout
    assert "student_id" in grade_help and "manifest.json" in grade_help and "A-D" in grade_help
    assert "same as `symbackprop grade`" in _run("worksheet", "--help").stdout


def test_grade_warnings_and_singular_counts(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\nalice\n")
    done = _run("worksheet", "key", str(EXAMPLE), "--roster", str(roster), "--salt", SALT,
                "--no-pdf", "-o", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0 and "files of 1 student to" in done.stdout, done.stderr
    answers = tmp_path / "answers.csv"
    answers.write_text("student_id,a1_1,nonsense\nalice,0.5,1\nnobody,0.1,0\n")
    done = _run("grade", str(tmp_path / "out"), str(answers), "-o", str(tmp_path / "res"))
    assert done.returncode == 0, done.stderr
    assert "symbackprop: warning: answers.csv:3: unknown student 'nobody'" in done.stderr
    assert "symbackprop: warning: answers.csv:2: unknown blank 'nonsense'" in done.stderr
    assert "graded 1 student (" in done.stdout


def test_unwritable_outputs_are_one_line_errors(tmp_path):
    roster = str(EXAMPLE.parent / "roster.csv")
    a_file = tmp_path / "some_file.toml"
    a_file.write_text("")
    for verb in ("generate", "key"):
        done = _run("worksheet", verb, str(EXAMPLE), "--roster", roster, "--salt", SALT,
                    "--no-pdf", "-o", str(a_file / "ws"))  # fmt: skip
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("symbackprop: error: -o ") and "is a file" in done.stderr
    answers = tmp_path / "answers.csv"
    answers.write_text("student_id,a1_1\nalice,0.5\n")
    done = _run("grade", "nosuchdir", str(answers), "-o", "res", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("symbackprop: error: ") and "nosuchdir" in done.stderr
    done = _run("grade", "nosuchdir", str(answers), "-o", str(a_file / "res"), cwd=tmp_path)
    assert done.returncode == 2 and "is a file" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "res").exists()
