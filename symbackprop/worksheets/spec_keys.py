"""The keys a worksheet spec may use, table by table, and the check that refuses any other.

Worksheets stage, called by :mod:`symbackprop.worksheets.spec`. A misspelt key (``mistake_credt``)
or a key in the wrong table (``tolerance`` under ``[worksheet]``) would otherwise be ignored in
silence; it is refused with the closest known key or the table it belongs in.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from symbackprop.model.errors import SpecError, shorten

# table -> its keys; "questions" is each [[questions]] table, "" the top level
SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "": ("worksheet", "network", "values", "questions"),
    "worksheet": ("id", "title", "decimals", "learning_rate", "ecf_credit", "mistake_credit"),
    "network": ("sizes", "activations", "output_activations", "losses"),
    "values": ("weights", "biases", "inputs", "targets"),
    "questions": ("kind", "of", "points", "id", "tolerance", "decimals"),
}
_SHOWN = {"": "the top level", "questions": "each [[questions]] table"}


def check_keys(document: Mapping[str, Any], where: str) -> None:
    """Raise SpecError for the first key that no table of a worksheet spec knows there."""
    _check_table(document, "", where)
    for table in ("worksheet", "network", "values"):
        if isinstance(document.get(table), Mapping):
            _check_table(document[table], table, where)
    questions = document.get("questions")
    if isinstance(questions, list):
        for number, entry in enumerate(questions, start=1):
            if not isinstance(entry, Mapping):
                raise SpecError(
                    f"{where}: question {number} is {shorten(repr(entry))}, not a table; write "
                    "[[questions]] with kind, of and points"
                )
            _check_table(entry, "questions", where, f"question {number}")


def _check_table(table: Mapping[str, Any], name: str, where: str, label: str = "") -> None:
    known = SPEC_KEYS[name]
    for key in table:
        if key in known:
            continue
        place = label or (f"[{name}]" if name else "the top level")
        advice = _advice(str(key), name, known)
        raise SpecError(f"{where}: unknown key {shorten(str(key))!r} in {place}{advice}")


def _advice(key: str, name: str, known: tuple[str, ...]) -> str:
    """Where a key belongs, else the closest known key of the table, else the known keys."""
    homes = [table for table, keys in SPEC_KEYS.items() if key in keys and table != name]
    if homes:
        home = _SHOWN.get(homes[0], f"[{homes[0]}]")
        return f"; {key!r} belongs in {home}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f"; known: {', '.join(known)}"
