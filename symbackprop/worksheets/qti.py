"""QTI 2.1 exports: one assessment item per student in an IMS content package (a zip).

Worksheets stage. Each student's variant is one ``assessmentItem``: a text entry per numeric
blank (a float scored within the grading tolerance), a choice interaction per rule blank and a
text entry per formula blank (matched to the key's text). Each known mistake is an
``equal`` branch of response processing that shows its diagnosis as modal feedback and
gives the sheet's mistake credit. ``imsmanifest.xml`` lists the items as IMS Content Packaging
1.1 resources of type ``imsqti_item_xmlv2p1``, which Canvas's QTI import reads into a question
bank. The schemas that validate both files are in ``schemas/qti/``.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping
from typing import Any

from symbackprop.worksheets.lms import (
    FORMULA_NOTE,
    blank_prompt,
    given_text,
    require_manifests,
    variant_of,
)
from symbackprop.worksheets.variants import LETTERS

QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
CP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same key gives the same bytes


def _q(tag: str) -> str:
    """The tag of a QTI element: unqualified, under the root's default ``xmlns``.

    (ElementTree's ``default_namespace`` refuses the unqualified attributes QTI uses.)
    """
    return tag


def identifier(text: str, prefix: str) -> str:
    """Return an XML identifier (NCName) for an id: ``prefix`` then the id, other chars as _xx."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"_{ord(m[0]):x}_", text)
    return f"{prefix}{safe}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _q(tag), attrs)
    if text is not None:
        element.text = text
    return element


def _number(value: float) -> str:
    return repr(float(value))


def _declare(item: ET.Element, blank: Mapping[str, Any], response: str) -> None:
    kinds = {"numeric": "float", "choice": "identifier", "symbolic": "string"}
    declaration = _sub(item, "responseDeclaration", identifier=response,
                       cardinality="single", baseType=kinds[blank["type"]])  # fmt: skip
    correct = _sub(declaration, "correctResponse")
    answer = blank["answer"]
    _sub(correct, "value", _number(answer) if blank["type"] == "numeric" else str(answer))


def _outcomes(item: ET.Element, total: float) -> None:
    score = _sub(item, "outcomeDeclaration", identifier="SCORE", cardinality="single",
                 baseType="float")  # fmt: skip
    _sub(_sub(score, "defaultValue"), "value", "0")
    maximum = _sub(item, "outcomeDeclaration", identifier="MAXSCORE", cardinality="single",
                   baseType="float")  # fmt: skip
    _sub(_sub(maximum, "defaultValue"), "value", f"{total:g}")
    _sub(item, "outcomeDeclaration", identifier="FEEDBACK", cardinality="multiple",
         baseType="identifier")  # fmt: skip


def _body(item: ET.Element, manifest: Mapping[str, Any]) -> None:
    variant = variant_of(manifest)
    body = _sub(item, "itemBody")
    _sub(body, "p", f"Student {manifest['student_id']} · variant {manifest['seed']}")
    _sub(body, "p", given_text(manifest, variant))
    for blank in manifest["blanks"]:
        response = identifier(blank["id"], "R_")
        if blank["type"] == "choice":
            interaction = _sub(body, "choiceInteraction", responseIdentifier=response,
                               shuffle="false", maxChoices="1")  # fmt: skip
            _sub(interaction, "prompt", blank_prompt(blank, variant))
            for i, text in enumerate(blank["options"]):
                _sub(interaction, "simpleChoice", text, identifier=LETTERS[i])
            continue
        paragraph = _sub(body, "p", blank_prompt(blank, variant) + " ")
        length = "40" if blank["type"] == "symbolic" else "12"
        _sub(paragraph, "textEntryInteraction", responseIdentifier=response,
             expectedLength=length)  # fmt: skip
    if any(b["type"] == "symbolic" for b in manifest["blanks"]):
        _sub(body, "p", FORMULA_NOTE)


def _add_score(parent: ET.Element, points: float) -> None:
    setter = _sub(parent, "setOutcomeValue", identifier="SCORE")
    total = _sub(setter, "sum")
    _sub(total, "variable", identifier="SCORE")
    _sub(total, "baseValue", f"{points:g}", baseType="float")


def _show(parent: ET.Element, feedback: str) -> None:
    setter = _sub(parent, "setOutcomeValue", identifier="FEEDBACK")
    joined = _sub(setter, "multiple")
    _sub(joined, "variable", identifier="FEEDBACK")
    _sub(joined, "baseValue", feedback, baseType="identifier")


def _close_to(parent: ET.Element, response: str, atol: float, value: float | None) -> None:
    tolerance = f"{atol!r} {atol!r}"
    equal = _sub(parent, "equal", toleranceMode="absolute", tolerance=tolerance)
    _sub(equal, "variable", identifier=response)
    if value is None:
        _sub(equal, "correct", identifier=response)
    else:
        _sub(equal, "baseValue", _number(value), baseType="float")


def _process(item: ET.Element, manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Score each blank as `grade` does (key, then known mistakes); return the feedback texts."""
    processing = _sub(item, "responseProcessing")
    feedback: list[tuple[str, str]] = []
    credit = float(manifest["mistake_credit"])
    for blank in manifest["blanks"]:
        response, points = identifier(blank["id"], "R_"), float(blank["points"])
        condition = _sub(processing, "responseCondition")
        branch = _sub(condition, "responseIf")
        if blank["type"] == "numeric":
            _close_to(branch, response, float(blank["atol"]), None)
        else:
            match = _sub(branch, "match")
            _sub(match, "variable", identifier=response)
            _sub(match, "correct", identifier=response)
        _add_score(branch, points)
        for i, mistake in enumerate(blank["mistakes"] if blank["type"] == "numeric" else ()):
            name = identifier(f"{blank['id']}_{i + 1}", "F_")
            otherwise = _sub(condition, "responseElseIf")
            _close_to(otherwise, response, float(blank["atol"]), float(mistake["value"]))
            _add_score(otherwise, points * credit)
            _show(otherwise, name)
            feedback.append((name, f"{blank['id']}: {mistake['title']}: {mistake['explanation']}"))
    return feedback


def assessment_item(manifest: Mapping[str, Any]) -> bytes:
    """Return one student's variant as a QTI 2.1 ``assessmentItem`` document."""
    item = ET.Element(_q("assessmentItem"), {
        "xmlns": QTI_NS,
        "identifier": identifier(f"{manifest['worksheet_id']}-{manifest['student_id']}", "I_"),
        "title": f"{manifest['title']}: {manifest['student_id']}",
        "adaptive": "false", "timeDependent": "false"})  # fmt: skip
    for blank in manifest["blanks"]:
        _declare(item, blank, identifier(blank["id"], "R_"))
    _outcomes(item, sum(float(b["points"]) for b in manifest["blanks"]))
    _body(item, manifest)
    for name, text in _process(item, manifest):
        modal = _sub(item, "modalFeedback", outcomeIdentifier="FEEDBACK", showHide="show",
                     identifier=name)  # fmt: skip
        modal.text = text
    _order(item)
    ET.indent(item)
    return ET.tostring(item, encoding="utf-8", xml_declaration=True)


_ORDER = ("responseDeclaration", "outcomeDeclaration", "itemBody", "responseProcessing",
          "modalFeedback")  # fmt: skip


def _order(item: ET.Element) -> None:
    """Put the item's parts in the order the schema requires (a stable sort by kind)."""
    children = sorted(item, key=lambda c: _ORDER.index(c.tag))
    for child in list(item):
        item.remove(child)
    item.extend(children)


def content_manifest(manifests: list[Mapping[str, Any]], paths: list[str]) -> bytes:
    """Return ``imsmanifest.xml``: one ``imsqti_item_xmlv2p1`` resource per item file."""
    cp = ""  # elements under the root's default xmlns, as in assessment_item
    sheet = manifests[0]["worksheet_id"]
    root = ET.Element("manifest", {"xmlns": CP_NS, "identifier": identifier(sheet, "M_")})
    metadata = ET.SubElement(root, f"{cp}metadata")
    ET.SubElement(metadata, f"{cp}schema").text = "QTIv2.1 Package"
    ET.SubElement(metadata, f"{cp}schemaversion").text = "1.0.0"
    ET.SubElement(root, f"{cp}organizations")
    resources = ET.SubElement(root, f"{cp}resources")
    for manifest, path in zip(manifests, paths, strict=True):
        resource = ET.SubElement(resources, f"{cp}resource", {
            "identifier": identifier(manifest["student_id"], "RES_"),
            "type": "imsqti_item_xmlv2p1", "href": path})  # fmt: skip
        ET.SubElement(resource, f"{cp}file", {"href": path})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def qti_package(manifests: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Return the zip of a QTI 2.1 content package: imsmanifest.xml and items/<student>.xml."""
    sheets = require_manifests(manifests)
    paths = [f"items/{identifier(m['student_id'], 'S_')}.xml" for m in sheets]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        files = {"imsmanifest.xml": content_manifest(sheets, paths)}
        files.update({p: assessment_item(m) for p, m in zip(paths, sheets, strict=True)})
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
