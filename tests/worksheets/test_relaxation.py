"""No student stops a class: predicates are relaxed in a stated, recorded way when no draw fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbackprop.cli import main as cli
from symbackprop.worksheets import variants
from symbackprop.worksheets.generate import worksheet
from symbackprop.worksheets.manifest import validate_manifest
from symbackprop.worksheets.spec import load_worksheet_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "worksheets" / "week5.toml"


def _three_decimals(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace("decimals = 4 ", "decimals = 3 ")
    assert "decimals = 3" in text
    path = tmp_path / "week5-d3.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def every_draw_too_small(monkeypatch):
    """Every draw breaks tiny_gradient, and only MAX_ATTEMPTS = 3 draws are tried."""
    real = variants.violated_predicates
    monkeypatch.setattr(variants, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(
        variants, "violated_predicates", lambda v: sorted({*real(v), "tiny_gradient"})
    )


def test_a_student_with_no_fitting_draw_gets_a_relaxed_variant_said_and_recorded(
    every_draw_too_small,
):
    sheet = worksheet(EXAMPLE, ["alice", "bob"], "salt")
    for manifest in sheet.manifests:
        validate_manifest(manifest)
        assert [r["predicate"] for r in manifest["relaxed"]] == ["tiny_gradient"]
        assert "fewer significant digits" in manifest["relaxed"][0]["meaning"]
    said = [m for m in sheet.messages if "relaxed" in m]
    assert len(said) == 2 and "'alice'" in said[0] and "key/alice/manifest.json" in said[0]


def test_a_relaxed_variant_keeps_no_mistake_within_the_separation(monkeypatch):
    real = variants.violated_predicates
    monkeypatch.setattr(variants, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(
        variants, "violated_predicates", lambda v: sorted({*real(v), "mistake_too_close"})
    )
    variant = variants.draw_variant(load_worksheet_spec(EXAMPLE), "salt", "carol")
    assert variant.relaxed[0] == "mistake_too_close"
    for blank in variant.blanks:
        for mistake in blank.mistakes:
            assert abs(mistake.value - float(blank.answer)) > variants.SEPARATION * blank.atol


def test_stress_reports_relaxations_and_rates_instead_of_stopping(every_draw_too_small, capsys):
    assert cli.main(["worksheet", "stress", str(EXAMPLE), "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "relaxed tiny_gradient for 2 variants (100.0%)" in out
    assert "rejected by tiny_gradient: 6 draws (100.0% of draws)" in out


@pytest.mark.slow
def test_three_decimals_generate_for_every_student_of_a_class(tmp_path):
    # with this salt, student s26 finds no draw meeting every predicate in 400 (the others do)
    sheet = worksheet(_three_decimals(tmp_path), [f"s{i}" for i in range(24, 28)], "salt")
    assert len(sheet.manifests) == 4
    relaxed = {m["student_id"]: m["relaxed"] for m in sheet.manifests if m["relaxed"]}
    assert list(relaxed) == ["s26"]
