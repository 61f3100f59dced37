"""Text made safe for each output format (render stage): LaTeX, Markdown, CSV cells, terminals.

One function per format, applied to every string a user or a file can influence: titles, names,
student ids, roster rows, prose. Each makes the text show literally; none of them lets it run,
read or link anything.
"""

from __future__ import annotations

import re

# Unicode in rule words -> LaTeX, for \text{...}.
_LATEX_WORDS = {
    "σ′": r"$\sigma'$", "σ": r"$\sigma$", "′": "'", "−": "-", "²": r"$^2$", "½": r"$\frac{1}{2}$",
    "δᵢₖ": r"$\delta_{ik}$", "δ": r"$\delta$", "∂": r"$\partial$", "ᵢ": r"$_i$", "ₖ": r"$_k$",
    "ᵘ": r"$^u$", "aᵢ": r"$a_i$", "aₖ": r"$a_k$", "λ₁": r"$\lambda_1$", "λ": r"$\lambda$",
    "←": r"$\leftarrow$", "β₁ᵗ": r"$\beta_1^t$", "β₂ᵗ": r"$\beta_2^t$",
    "⊙": r"$\odot$", "𝟏": r"$\mathbf{1}$", "ᵀ": r"$^{\top}$", "Δ": r"$\Delta$",
    "Ā": r"$\bar{A}$", "V̄": r"$\bar{V}$", "X̂": r"$\hat{X}$", "√": r"$\surd$",
    "Ȳ": r"$\bar{Y}$", "×": r"$\times$", "⟨": r"$\langle$", "⟩": r"$\rangle$",
    "H̄": r"$\bar{H}$", "∗": r"$\ast$", "⋆": r"$\star$", "°": r"$^{\circ}$",
    "γ": r"$\gamma$", "β": r"$\beta$", "ε": r"$\epsilon$", "μ": r"$\mu$",
}  # fmt: skip


# TeX's special characters, each as the command that prints it literally. ``^`` and ``~`` matter
# most: ``^^5c`` is TeX's notation for a backslash, so an unescaped ``^`` lets text run commands.
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "%": r"\%", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}  # fmt: skip
# Characters beyond ASCII that print: Latin-1 letters (pdflatex's utf8 input, the templates'
# fonts) and the symbols both TeX templates declare with \DeclareUnicodeCharacter.
_LATEX_LETTERS = frozenset(chr(c) for c in range(0xC0, 0x100)) - set("×÷ÐðÞþ")
_LATEX_DECLARED = frozenset("σδηθ∂′−∑Σ—∘⋮…×·⁺ᵀ½²")
# A run of superscript digits (the power in 3.75×10⁻⁵) becomes one LaTeX superscript, and a
# run of subscript digits (x₁ … x₄) one subscript.
_SUPERSCRIPTS = "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"
_SUBSCRIPTS = "₋₀₁₂₃₄₅₆₇₈₉"
_SCRIPTS = {_SUPERSCRIPTS: "^", _SUBSCRIPTS: "_"}
_LATEX_TOKEN = re.compile(
    f"[{_SUPERSCRIPTS}]+|[{_SUBSCRIPTS}]+|"
    + "|".join(re.escape(k) for k in sorted(_LATEX_WORDS, key=len, reverse=True))
    # A hyphen before another stays a hyphen: TeX would join -- into a dash (--sample).
    + "|-(?=-)|.",
    re.DOTALL,
)


def _latex_char(match: re.Match[str]) -> str:
    text = match[0]
    for digits, mark in _SCRIPTS.items():
        if text[0] in digits:
            return f"${mark}{{" + text.translate(str.maketrans(digits, "-0123456789")) + "}$"
    if text == "-" and match.string.startswith("-", match.end()):
        return "-{}"
    if text in _LATEX_WORDS:
        return _LATEX_WORDS[text]
    if text in _LATEX_SPECIAL:
        return _LATEX_SPECIAL[text]
    if " " <= text <= "~" or text in _LATEX_LETTERS or text in _LATEX_DECLARED:
        return text
    # Line breaks and other control characters become spaces (a blank line would end the
    # argument of \title); characters the fonts lack become "?" rather than a failed build.
    return " " if text.isspace() or ord(text) < 0x20 or text == "\x7f" else "?"


def latex_text(words: str) -> str:
    """Escape any text for LaTeX text mode so that it prints literally and runs nothing.

    TeX's special characters become the commands that print them, the rule words' Unicode
    becomes math, control characters become spaces and characters the fonts lack become "?".
    """
    return _LATEX_TOKEN.sub(_latex_char, words)


# Markdown's characters that can start markup: emphasis, code, links and images, raw HTML and
# autolinks, entities, tables, strikethrough, math ($ in Jupyter). Each gets a backslash.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$&])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# What makes a line a heading, a list item or a rule when it starts one: "# ", "- ", "+ ",
# "1. ", "---", "===". (A number such as -0.25 starts none, so it stays as it is.)
_BLOCK_START = re.compile(r"^(\s*\d{0,9})([#+\-=.)])(?=[\s#+\-=]|$)")


def markdown_text(words: str) -> str:
    """Escape any text for Markdown (reports and notebook cells) so that it shows literally.

    No raw HTML, link, image or math survives; line breaks and control characters become one
    space, so text cannot start a heading, a list, a quote or a code block of its own.
    """
    # Leading blanks go: four of them would start an indented code block, where escapes show.
    flat = _CONTROL.sub(" ", words).lstrip(" \t")
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", flat)
    return _BLOCK_START.sub(r"\1\\\2", escaped, count=1)


# A spreadsheet reads a cell that starts with one of these as a formula (=1+1, @SUM(A1), -1-1,
# +cmd|...), also after leading spaces.
_FORMULA_START = ("=", "+", "-", "@")


def csv_cell(text: str) -> str:
    """Neutralise a CSV cell so that spreadsheets show it as text, never run it as a formula.

    Line breaks and other control characters become spaces (a cell is one line); a cell that
    then starts with = + - @ gets a leading apostrophe, which spreadsheets hide and read as
    "this is text", and so does a cell that starts with an apostrophe of its own (else the
    spreadsheet would hide that one). Other cells are unchanged.
    """
    flat = _CONTROL.sub(" ", text)
    starts = flat.lstrip()
    return "'" + flat if starts.startswith(_FORMULA_START) or starts.startswith("'") else flat


# Control characters (C0 but tab, line feed and carriage return; DEL; C1, which includes the
# 8-bit CSI) and the bidirectional overrides: each can move the cursor, retitle the window or
# reorder what the reader sees.
_TERMINAL_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def terminal_text(text: str) -> str:
    """Show control characters as visible escapes (\\x1b) so that text cannot drive a terminal."""
    return _TERMINAL_CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                                 else f"\\u{ord(m[0]):04x}", text)  # fmt: skip
