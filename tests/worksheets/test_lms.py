"""LMS exports: QTI 2.1 packages against IMS's schemas, Moodle Cloze read back, gradebooks."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from symbackprop.cli.main import main
from symbackprop.model.errors import SymbackpropError
from symbackprop.worksheets.grading import grade_student
from symbackprop.worksheets.lms import gradebook_csv, moodle_xml, read_grades_csv
from symbackprop.worksheets.qti import QTI_NS, qti_package
from tests.worksheets.course_sheet import course_manifests, write_key

SCHEMAS = Path(__file__).resolve().parents[2] / "symbackprop" / "worksheets" / "schemas" / "qti"
# The schemas the IMS files import, by a part of the location they name, and the stand-in.
STAND_INS = {"XML/1998/namespace": "xml.xsd", "/xml.xsd": "xml.xsd", "XInclude": "xinclude.xsd",
             "mathml2": "mathml.xsd", "apip": "apip.xsd"}  # fmt: skip


@pytest.fixture(scope="module")
def manifests():
    return course_manifests()


@pytest.fixture(scope="module")
def package(manifests):
    return zipfile.ZipFile(io.BytesIO(qti_package(manifests)))


def _schema(name: str):
    etree = pytest.importorskip("lxml.etree", reason="lxml validates the exports")

    class StandIns(etree.Resolver):
        def resolve(self, url, pubid, context):
            for part, stand_in in STAND_INS.items():
                if part.lower() in url.lower():
                    return self.resolve_filename(str(SCHEMAS / stand_in), context)
            if "://" in url:
                raise AssertionError(f"the schema imports {url!r}, which has no stand-in")
            return None  # a file of ours, read as it is

    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(StandIns())
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name), parser))


# --- QTI ----------------------------------------------------------------
def test_qti_package_validates_against_the_ims_schemas(package, manifests):
    etree = pytest.importorskip("lxml.etree", reason="lxml validates the exports")
    items, content = _schema("imsqti_v2p1.xsd"), _schema("imscp_v1p1.xsd")
    names = package.namelist()
    assert names[0] == "imsmanifest.xml" and len(names) == 1 + len(manifests)
    for name in names:
        schema = content if name == "imsmanifest.xml" else items
        document = etree.fromstring(package.read(name))
        assert schema.validate(document), f"{name}: {schema.error_log}"
    # the validation is real: an item without its required attribute fails
    broken = etree.fromstring(package.read(names[1]))
    del broken.attrib["identifier"]
    assert not items.validate(broken)


def test_qti_manifest_lists_every_item_as_a_qti_resource(package):
    cp = "{http://www.imsglobal.org/xsd/imscp_v1p1}"
    root = ET.fromstring(package.read("imsmanifest.xml"))
    resources = root.findall(f"{cp}resources/{cp}resource")
    assert {r.get("type") for r in resources} == {"imsqti_item_xmlv2p1"}
    assert sorted(r.get("href") for r in resources) == sorted(package.namelist()[1:])


def test_qti_item_scores_the_key_and_each_mistake_with_the_grading_tolerance(package, manifests):
    q = f"{{{QTI_NS}}}"
    for name in package.namelist()[1:]:
        item = ET.fromstring(package.read(name))
        student = item.get("title").split(": ")[-1]
        manifest = manifests[student]
        conditions = item.findall(f"{q}responseProcessing/{q}responseCondition")
        assert len(conditions) == len(manifest["blanks"])
        feedback = {m.get("identifier"): m.text for m in item.findall(f"{q}modalFeedback")}
        for blank, condition in zip(manifest["blanks"], conditions, strict=True):
            declared = item.find(f"{q}responseDeclaration[@identifier='R_{blank['id']}']")
            assert declared.find(f"{q}correctResponse/{q}value").text == (
                repr(blank["answer"]) if blank["type"] == "numeric" else blank["answer"]
            )
            if blank["type"] != "numeric":
                continue
            branches = list(condition)
            assert len(branches) == 1 + len(blank["mistakes"])
            for branch in branches:
                equal = branch.find(f"{q}equal")
                assert equal.get("tolerance") == f"{blank['atol']!r} {blank['atol']!r}"
            for mistake, branch in zip(blank["mistakes"], branches[1:], strict=True):
                assert float(branch.find(f"{q}equal/{q}baseValue").text) == mistake["value"]
                shown = branch.find(f"{q}setOutcomeValue/{q}multiple/{q}baseValue").text
                assert mistake["explanation"] in feedback[shown]


def test_qti_package_is_the_same_bytes_every_time(manifests):
    assert qti_package(manifests) == qti_package(manifests)


# --- Moodle ----------------------------------------------------------------
_MARKER = re.compile(r"\{(\d+):(NUMERICAL|MULTICHOICE_V|SHORTANSWER):((?:\\.|[^\\}])*)\}")


def _split(text: str, separator: str) -> list[str]:
    """Split Cloze text on a separator that is not escaped with a backslash."""
    return re.split(rf"(?<!\\){re.escape(separator)}", text)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _numerical(body: str) -> list[tuple[int, float, float, str]]:
    """Read a NUMERICAL subquestion as (percent, value, tolerance, feedback) per answer."""
    answers = []
    for answer in _split(body, "~"):
        head, _, feedback = answer.partition("#")
        percent = 100 if head.startswith("=") else int(re.match(r"%(-?\d+)%", head)[1])
        value, tolerance = re.sub(r"^(=|%-?\d+%)", "", head).split(":")
        answers.append((percent, float(value), float(tolerance), _unescape(feedback)))
    return answers


def _moodle_answer(answers, given: float):
    """Moodle's NUMERICAL marking: the first answer within its tolerance."""
    return next((a for a in answers if abs(given - a[1]) <= a[2]), None)


def test_moodle_xml_has_one_category_and_one_cloze_question_per_student(manifests):
    quiz = ET.fromstring(moodle_xml(manifests))
    questions = quiz.findall("question")
    assert [q.get("type") for q in questions] == ["category"] + ["cloze"] * len(manifests)
    assert questions[0].findtext("category/text").startswith("$course$/top/")
    for question, student in zip(questions[1:], sorted(manifests), strict=True):
        assert question.findtext("name/text").endswith(student)
        worked = question.findtext("generalfeedback/text")
        assert "<math" in worked and "Forward pass" in worked
        markers = _MARKER.findall(question.findtext("questiontext/text"))
        assert len(markers) == len(manifests[student]["blanks"])


def test_moodle_marks_a_numeric_answer_as_grade_does(manifests):
    quiz = ET.fromstring(moodle_xml(manifests))
    for question in quiz.findall("question")[1:]:
        student = question.findtext("name/text").split(": ")[-1]
        manifest = manifests[student]
        text = ET.fromstring(f"<div>{question.findtext('questiontext/text')}</div>")
        markers = _MARKER.findall("".join(text.itertext()))
        for blank, (_, kind, body) in zip(manifest["blanks"], markers, strict=True):
            if blank["type"] != "numeric":
                continue
            assert kind == "NUMERICAL"
            answers = _numerical(body)
            tries = [blank["answer"], *[m["value"] for m in blank["mistakes"]], 12.5]
            for given in tries:
                graded = grade_student(manifest, {blank["id"]: repr(given)}).result(blank["id"])
                moodle = _moodle_answer(answers, given)
                if graded.status == "correct":
                    assert moodle is not None and moodle[0] == 100
                elif graded.status == "mistake":
                    assert moodle is not None and moodle[3] == graded.message, blank["id"]
                else:
                    assert moodle is None


def test_export_refuses_a_key_with_two_worksheets(manifests):
    other = dict(manifests["alice"], worksheet_id="week6", student_id="zoe")
    with pytest.raises(SymbackpropError, match="export one worksheet folder at a time"):
        moodle_xml({**manifests, "zoe": other})


# --- gradebooks ----------------------------------------------------------------
GRADES = "student_id,a1_1,total,max,percent\nalice,1,9.5,12,79.2\n'@bob,0,3,12,25.0\n"


def test_canvas_gradebook_has_canvas_columns_and_points_possible():
    rows = list(csv.reader(io.StringIO(gradebook_csv(read_grades_csv(GRADES, "g"), "canvas",
                                                     "Week 5"))))  # fmt: skip
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Week 5"]
    assert rows[1] == ["Points Possible", "", "", "", "", "12"]
    assert rows[2][2] == "alice" and rows[2][5] == "9.5"
    assert rows[3][2] == "'@bob"  # still neutralised for spreadsheets


def test_moodle_gradebook_maps_id_number_to_points():
    rows = list(csv.reader(io.StringIO(gradebook_csv(read_grades_csv(GRADES, "g"), "moodle",
                                                     "Week 5"))))  # fmt: skip
    assert rows == [["ID number", "Week 5"], ["alice", "9.5"], ["'@bob", "3"]]


def test_gradebook_refuses_a_file_that_is_not_grades():
    with pytest.raises(SymbackpropError, match="expected the grades.csv"):
        read_grades_csv("student_id,a1_1\nalice,0.5\n", "answers.csv")


def test_export_and_gradebook_commands_write_their_files(tmp_path, manifests, capsys):
    write_key(tmp_path / "week5")
    assert main(["worksheet", "export", str(tmp_path / "week5"), "--format", "qti",
                 "-o", str(tmp_path / "w5.zip")]) == 0  # fmt: skip
    assert zipfile.ZipFile(tmp_path / "w5.zip").namelist()[0] == "imsmanifest.xml"
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "grades.csv").write_text(GRADES)
    assert main(["worksheet", "gradebook", str(tmp_path / "results"), "--lms", "moodle",
                 "-o", str(tmp_path / "moodle.csv")]) == 0  # fmt: skip
    assert (tmp_path / "moodle.csv").read_text().startswith("ID number,Worksheet")
    assert "gradebook of 2 students" in capsys.readouterr().out


def test_readme_course_commands_run_as_written(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("Where courses live")[1].split("```")[1]
    lines = [line.split("#")[0].split() for line in block.splitlines() if line.strip()]
    assert len(lines) == 5 and all(line[:2] == ["symbackprop", "worksheet"] for line in lines)
    write_key(tmp_path / "DIR")
    (tmp_path / "RESULTS").mkdir()
    (tmp_path / "RESULTS" / "grades.csv").write_text(GRADES)
    monkeypatch.chdir(tmp_path)
    for line in lines:
        assert main(line[1:]) == 0, line
    assert {p.name for p in tmp_path.iterdir()} >= {"week5.xml", "week5.zip", "canvas.csv",
                                                     "course", "practice"}  # fmt: skip
