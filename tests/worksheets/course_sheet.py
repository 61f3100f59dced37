"""One small class of the example worksheet, drawn once per test process for the course tests."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from symbackprop.worksheets.generate import worksheet

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "worksheets" / "week5.toml"
ROSTER = ("alice", "1bob@uni.edu")  # the second is not an XML name, nor a Python one
SALT = "course-salt"


@functools.lru_cache(maxsize=1)
def course_sheet() -> Any:
    """The example worksheet for ROSTER (the export, self-check and notebook tests share it)."""
    return worksheet(EXAMPLE, list(ROSTER), SALT)


def course_manifests() -> dict[str, dict[str, Any]]:
    return {m["student_id"]: m for m in course_sheet().manifests}


def write_key(folder: Path) -> Path:
    """Write the class's manifests as `worksheet generate` lays them out; return the folder."""
    for student, manifest in course_manifests().items():
        (folder / "key" / student).mkdir(parents=True)
        (folder / "key" / student / "manifest.json").write_text(json.dumps(manifest))
    return folder
