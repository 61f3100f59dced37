"""A small class of generated worksheets shared by the grading tests (built once per worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbackprop.worksheets.generate import worksheet

WEEK5 = Path(__file__).resolve().parents[2] / "examples" / "worksheets" / "week5.toml"


@pytest.fixture(scope="session")
def written(tmp_path_factory):
    """The folder `worksheet generate` wrote for ann and bob (no PDFs), and the worksheet."""
    folder = tmp_path_factory.mktemp("sheet")
    sheet = worksheet(str(WEEK5), ["ann", "bob"], "salt")
    sheet.write(folder, pdf=False)
    return folder, sheet
