"""Templates and formats: the Jinja2 environment over ``templates/``, and MathML for HTML.

Rendering layer. :func:`template_environment` loads the packaged templates (autoescaped for
HTML; ``<% %>`` and ``<< >>`` markers for LaTeX, which is full of braces); :func:`for_format`
prepares a plain-data context for one format: MathML from :func:`mathml` for HTML, escaped
prose for LaTeX and Markdown.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from symbackprop.render.escape import latex_text, markdown_text


def _load_template(name: str) -> str:
    return resources.files("symbackprop.templates").joinpath(name).read_text(encoding="utf-8")


def template_environment(fmt: str) -> jinja2.Environment:
    options: dict[str, Any] = {"loader": jinja2.FunctionLoader(_load_template),
                               "undefined": jinja2.StrictUndefined, "keep_trailing_newline": True,
                               "trim_blocks": True, "lstrip_blocks": True}  # fmt: skip
    if fmt == "tex":
        # LaTeX is full of braces: Jinja's markers become <% %>, << >> and <# #> here.
        options.update(block_start_string="<%", block_end_string="%>",
                       variable_start_string="<<", variable_end_string=">>",
                       comment_start_string="<#", comment_end_string="#>")  # fmt: skip
    return jinja2.Environment(autoescape=fmt == "html", **options)  # noqa: S701


def _map_strings(data: Any, key: str, change: Callable[[str, str], Any]) -> Any:
    if isinstance(data, dict):
        return {k: _map_strings(v, k, change) for k, v in data.items()}
    if isinstance(data, list):
        return [_map_strings(v, key, change) for v in data]
    if isinstance(data, str):
        return change(key, data)
    return data


RAW_KEYS = ("svg", "figure")


def for_format(ctx: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Prepare a context for one format: MathML (HTML), escaped prose (LaTeX, Markdown)."""

    def change(key: str, text: str) -> Any:
        if key.endswith("_tex"):
            return Markup(mathml(text)) if fmt == "html" and text else text
        if key in RAW_KEYS:
            return Markup(text) if fmt == "html" else text
        if fmt == "tex":
            return latex_text(text)
        if fmt == "md":
            return markdown_text(text)
        return text

    return _map_strings(copy.deepcopy(ctx), "", change)  # type: ignore[no-any-return]


# --- MathML ----------------------------------------------------------------------------------
_BOLD_ITALIC = re.compile(r'<mi mathvariant="bold-italic">([^<]+)</mi>')
_BOLD_DIGIT = re.compile(r'<mn mathvariant="bold">(\d)</mn>')
_ENTITY = re.compile(r"&#x([0-9A-Fa-f]+);")


def _bold_italic(char: str) -> str:
    code = ord(char)
    if "a" <= char <= "z":
        return chr(0x1D482 + code - ord("a"))
    if "A" <= char <= "Z":
        return chr(0x1D468 + code - ord("A"))
    if 0x3B1 <= code <= 0x3C9:
        return chr(0x1D736 + code - 0x3B1)
    return char


def mathml(tex: str, display: bool = False) -> str:
    """Convert the printer's LaTeX to MathML Core that Chromium draws well (render-probe.md).

    Bold-italic and bold-digit variants become Unicode letters (Chromium ignores
    ``mathvariant``), and \\left( \\right) lose their stretch, which draws wide gaps.
    """
    from latex2mathml.converter import convert

    out = convert(tex, display="block" if display else "inline")

    def bold(match: re.Match[str]) -> str:
        text = _ENTITY.sub(lambda m: chr(int(m[1], 16)), match[1])
        return f"<mi>{''.join(_bold_italic(c) for c in text)}</mi>"

    out = _BOLD_ITALIC.sub(bold, out)
    out = _BOLD_DIGIT.sub(lambda m: f"<mn>{chr(0x1D7CE + int(m[1]))}</mn>", out)
    out = out.replace('stretchy="true" fence="true"', 'stretchy="false" fence="true"')
    if "\\" in out:
        raise RuntimeError(f"latex2mathml left a LaTeX command unconverted in {tex!r}")
    return out
