"""A spec written back as TOML with new initial parameters (what ``train -o`` saves).

Model layer. The written file loads back with :func:`symbackprop.model.specs.spec.load_spec`
from where it is saved: a CSV the spec names is referred to relative to the new file.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.specs.spec import Spec

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def spec_toml(spec: Spec, params: Mapping[str, Any], path: str | os.PathLike[str]) -> str:
    """Return the TOML text of ``spec`` with ``params`` as its initial values, to save at ``path``.

    ``params`` holds numbers by name, or arrays by state_dict name for a network of layers.

    The CSV file a spec names is referred to relative to the new file's directory, so the
    written spec loads back with :func:`load_spec` from where it is saved.
    """
    document = copy.deepcopy(dict(spec.document))
    document.pop("init", None)
    document["params"] = {name: _plain(params[name]) for name in spec.network.parameter_names()}
    data = document.get("data")
    if isinstance(data, dict) and "csv" in data:
        csv_file = (spec.path.parent / data["csv"]).resolve()
        target = Path(path).resolve().parent
        try:
            data["csv"] = Path(os.path.relpath(csv_file, target)).as_posix()
        except ValueError:  # another drive (Windows): keep the absolute path
            data["csv"] = csv_file.as_posix()
    layered = isinstance(spec.network, LayerNetwork)
    return _dump(document, f"written by symbackprop from {spec.path.name}", layered)


def _plain(value: Any) -> float | list[Any]:
    """A parameter as TOML can hold it: a float, or an array as nested lists of floats."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array.tolist()  # type: ignore[no-any-return]


def _dump(document: Mapping[str, Any], comment: str, one_item_a_line: bool = False) -> str:
    """Write the document; ``one_item_a_line`` puts each layer and array row on a line."""
    lines = [f"# {comment}"]
    for key, value in document.items():
        if not isinstance(value, dict):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in document.items():
        if isinstance(value, dict):
            lines += ["", f"[{_toml_key(key)}]"]
            for k, v in value.items():
                nested = isinstance(v, list) and any(isinstance(i, (list, dict)) for i in v)
                if one_item_a_line and nested:
                    items = "".join(f"    {_toml_value(i)},\n" for i in v)
                    lines.append(f"{_toml_key(k)} = [\n{items}]")
                else:
                    lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML also forbids a raw DEL character. Characters
    # beyond ASCII are written as themselves: JSON would write an emoji as two surrogate
    # escapes (\ud83d\ude00), which TOML refuses.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, int) or math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return str(value.isoformat())  # dates and times
