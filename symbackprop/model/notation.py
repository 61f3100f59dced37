"""Symbol names in the book's notation: ASCII names <-> LaTeX and Unicode (model layer).

Every ASCII name the package makes (``w2_1_1``, ``delta2_1``, ``dL_dw2_1_1``) is built here and
nowhere else, and every LaTeX or Unicode form of a name is read back from it here.

| quantity            | ASCII        | LaTeX                                   |
|---------------------|--------------|-----------------------------------------|
| input k             | x1           | x_{1}                                   |
| target j            | y1           | y_{1}                                   |
| weight (layer, j, k)| w2_1_1       | w^{(2)}_{11} (w^{(2)}_{1,12} past 9)    |
| bias (layer, j)     | b2_1         | b^{(2)}_{1}                             |
| shared bias (layer) | b2           | b^{(2)}                                 |
| pre-activation      | z2_1         | z^{(2)}_{1}                             |
| activation          | a2_1         | a^{(2)}_{1}                             |
| delta dL/dz         | delta2_1     | \\delta^{(2)}_{1}                        |
| loss                | L            | \\mathcal{L}                             |
| dL/d(name)          | dL_dw2_1_1   | \\frac{\\partial \\mathcal{L}}{\\partial w^{(2)}_{11}} |
| updated parameter   | w2_1_1_new   | {w^{(2)}_{11}}^{+}                      |
| layer arrays        | W2, b2, ...  | W^{(2)}, \\mathbf{b}^{(2)}               |
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

LOSS = "L"
LEARNING_RATE = "eta"
STEP_NUMBER = "t"  # the optimiser's step number (Adam's bias correction)
PENALTY = "Omega"  # the weight penalty's term of the loss, Goodfellow et al.'s Omega(theta)
_GRADIENT_PREFIX = "dL_d"
_UPDATED_SUFFIX = "_new"

_GREEK_UNICODE = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ε",
    "zeta": "ζ",
    "eta": "η",
    "theta": "θ",
    "iota": "ι",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "xi": "ξ",
    "pi": "π",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "upsilon": "υ",
    "phi": "φ",
    "chi": "χ",
    "psi": "ψ",
    "omega": "ω",
    "Gamma": "Γ",
    "Delta": "Δ",
    "Theta": "Θ",
    "Lambda": "Λ",
    "Xi": "Ξ",
    "Pi": "Π",
    "Sigma": "Σ",
    "Upsilon": "Υ",
    "Phi": "Φ",
    "Psi": "Ψ",
    "Omega": "Ω",
}
_GREEK = set(_GREEK_UNICODE)

_WEIGHT = re.compile(r"^w(\d+)_(\d+)_(\d+)$")
_NEURON = re.compile(r"^(b|z|a|delta)(\d+)_(\d+)$")
_SHARED_BIAS = re.compile(r"^b(\d+)$")
_INPUT_TARGET = re.compile(r"^([xy])(\d+)$")
_TRAILING_INDEX = re.compile(r"^([A-Za-z]+?)_?(\d+)$")
_STATE = re.compile(r"^([vms])_([wb]\d.*)$")  # an optimiser's state of a weight or bias


# --- building names -------------------------------------------------------------------------
def input_name(k: int) -> str:
    return f"x{k}"


def target_name(j: int) -> str:
    return f"y{j}"


def weight_name(layer: int, j: int, k: int) -> str:
    return f"w{layer}_{j}_{k}"


def bias_name(layer: int, j: int | None = None) -> str:
    """Return b{layer}_{j}, or b{layer} for a bias the layer's neurons share (j is None)."""
    return f"b{layer}" if j is None else f"b{layer}_{j}"


def z_name(layer: int, j: int) -> str:
    return f"z{layer}_{j}"


def a_name(layer: int, j: int) -> str:
    return f"a{layer}_{j}"


def delta_name(layer: int, j: int) -> str:
    return f"delta{layer}_{j}"


def gradient_name(name: str) -> str:
    """Return the name of dL/d(name)."""
    return f"{_GRADIENT_PREFIX}{name}"


def updated_name(name: str) -> str:
    """Return the name of a parameter's value after one gradient-descent step."""
    return f"{name}{_UPDATED_SUFFIX}"


def state_name(kind: str, name: str) -> str:
    """Return the name of an optimiser's state of a parameter: v_w2_1_1 (velocity), m_w1, s_b1."""
    return f"{kind}_{name}"


def hyperparameter_name(key: str) -> str:
    """Return the symbol name of an optimiser setting: momentum -> mu, the others as named."""
    return "mu" if key == "momentum" else key


def weight_matrix_name(layer: int) -> str:
    return f"W{layer}"


def bias_vector_name(layer: int) -> str:
    return f"b{layer}"


def loss_gradient_vector_name(layer: int) -> str:
    """Return the name of the vector nabla_a L of the output layer's activations."""
    return f"grad_a{layer}"


def is_parameter_like(name: str) -> bool:
    """Tell whether a name reads as a weight or bias (w2_1_1, b1, w5): printed first in products."""
    return bool(re.match(r"^[wb]\d", name))


def is_generated_name(name: str) -> bool:
    """Tell whether a name has the form of one the derivation makes (so a user may not take it)."""
    return (
        name == LOSS
        or name == LEARNING_RATE
        or name == PENALTY
        or name.startswith(_GRADIENT_PREFIX)
        or name.endswith(_UPDATED_SUFFIX)
    )


def parse_weight_name(name: str) -> tuple[int, int, int] | None:
    """Return (layer, j, k) of a weight name such as w2_1_1, or None."""
    match = _WEIGHT.match(name)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


# --- LaTeX ----------------------------------------------------------------------------------
def _indices_tex(*indices: str) -> str:
    # Past 9 an index has two digits, so the indices need a separator to stay readable.
    separator = "," if any(len(i) > 1 for i in indices) else ""
    return separator.join(indices)


def latex_name(name: str) -> str:
    """Return the LaTeX form of an ASCII name (textbook notation; other names kept readable)."""
    if name == LOSS:
        return r"\mathcal{L}"
    if name.startswith(_GRADIENT_PREFIX) and len(name) > len(_GRADIENT_PREFIX):
        inner = latex_name(name[len(_GRADIENT_PREFIX) :])
        return rf"\frac{{\partial \mathcal{{L}}}}{{\partial {inner}}}"
    if name.endswith(_UPDATED_SUFFIX) and len(name) > len(_UPDATED_SUFFIX):
        return rf"{{{latex_name(name[: -len(_UPDATED_SUFFIX)])}}}^{{+}}"
    if match := _WEIGHT.match(name):
        return rf"w^{{({match[1]})}}_{{{_indices_tex(match[2], match[3])}}}"
    if match := _NEURON.match(name):
        letter = r"\delta" if match[1] == "delta" else match[1]
        return rf"{letter}^{{({match[2]})}}_{{{match[3]}}}"
    if match := _SHARED_BIAS.match(name):
        return rf"b^{{({match[1]})}}"
    if match := _INPUT_TARGET.match(name):
        return f"{match[1]}_{{{match[2]}}}"
    if match := _STATE.match(name):
        return f"{match[1]}_{{{latex_name(match[2])}}}"
    return _generic_latex(name)


def _generic_latex(name: str) -> str:
    """Typeset a user's own name: greek letters, a trailing index, words upright."""
    if name in _GREEK:
        return "\\" + name
    head, _, tail = name.partition("_")
    if tail:
        return f"{_word_latex(head)}_{{{_subscript_latex(tail)}}}"
    match = _TRAILING_INDEX.match(name)
    if match:
        return f"{_word_latex(match[1])}_{{{match[2]}}}"
    return _word_latex(name)


def _word_latex(word: str) -> str:
    if word in _GREEK:
        return "\\" + word
    # A name's own underscores (x_, Lambda_) are printed, not read as subscripts.
    printed = word.replace("_", "\\_")
    return word if len(word) == 1 else rf"\mathrm{{{printed}}}"


def _subscript_latex(tail: str) -> str:
    # Short subscripts (h1, o2) stay italic like an index; longer words are set upright.
    parts = tail.split("_")
    return ",".join(part if len(part) <= 2 else _word_latex(part) for part in parts)


def latex_matrix_name(name: str) -> str:
    """Return the LaTeX form of a layer-view array name: W2 -> W^{(2)}, delta2 -> bold delta."""
    if name.startswith("grad_a"):
        return rf"\nabla_{{{latex_matrix_name(name[len('grad_') :])}}} \mathcal{{L}}"
    match = re.match(r"^(W|b|z|a|delta|x|y)(\d*)$", name)
    if not match:
        return _generic_latex(name)
    letter, layer = match[1], match[2]
    base = {"W": "W", "delta": r"\boldsymbol{\delta}"}.get(letter, rf"\mathbf{{{letter}}}")
    return f"{base}^{{({layer})}}" if layer else base


# --- Unicode (terminal text) ------------------------------------------------------------------
_SUPERSCRIPT = str.maketrans("0123456789()+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁺⁻")
_SUBSCRIPT = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉,")


# Within ``literal_names()`` a name is the user's own: b1 is b₁, not the layer bias b⁽¹⁾.
_LITERAL: ContextVar[bool] = ContextVar("literal_names", default=False)


@contextmanager
def literal_names() -> Iterator[None]:
    """Print names as a custom program's own (no textbook layer forms) within this block."""
    token = _LITERAL.set(True)
    try:
        yield
    finally:
        _LITERAL.reset(token)


def unicode_name(name: str) -> str:
    """Return the terminal form of an ASCII name: w2_1_1 -> w⁽²⁾₁₁, delta2_1 -> δ⁽²⁾₁."""
    if name == LOSS:
        return "L"
    if name.startswith(_GRADIENT_PREFIX) and len(name) > len(_GRADIENT_PREFIX):
        return f"∂L/∂{unicode_name(name[len(_GRADIENT_PREFIX) :])}"
    if name.endswith(_UPDATED_SUFFIX) and len(name) > len(_UPDATED_SUFFIX):
        return f"{unicode_name(name[: -len(_UPDATED_SUFFIX)])}⁺"
    if _LITERAL.get():
        return _generic_unicode(name)
    if match := _WEIGHT.match(name):
        sub = _indices_tex(match[2], match[3]).translate(_SUBSCRIPT)
        return f"w{_layer_unicode(match[1])}{sub}"
    if match := _NEURON.match(name):
        letter = "δ" if match[1] == "delta" else match[1]
        return f"{letter}{_layer_unicode(match[2])}{match[3].translate(_SUBSCRIPT)}"
    if match := _SHARED_BIAS.match(name):
        return f"b{_layer_unicode(match[1])}"
    if match := _INPUT_TARGET.match(name):
        return f"{match[1]}{match[2].translate(_SUBSCRIPT)}"
    if match := _STATE.match(name):
        return f"{match[1]}_{unicode_name(match[2])}"
    return _generic_unicode(name)


def _generic_unicode(name: str) -> str:
    """A user's own name: a trailing index as a subscript (b1 -> b₁), greek letters as such."""
    match = _TRAILING_INDEX.match(name)
    if match and "_" not in name:
        return f"{_GREEK_UNICODE.get(match[1], match[1])}{match[2].translate(_SUBSCRIPT)}"
    return _GREEK_UNICODE.get(name, name)


def _layer_unicode(layer: str) -> str:
    return f"({layer})".translate(_SUPERSCRIPT)


# --- the matrix program of a network of layers ----------------------------------------------
# Node, parameter and scalar names of model/matrix_program.py: the letter, the textbook layer l
# and, for a second node of one kind in one layer (two dropouts), "v2".
_PROGRAM_NAME = re.compile(
    r"^(Z|A|Delta|mu|C|var|r|Xhat|N|R|D|M|Q|K|V|S|P|H|O|W|b|gamma|beta|"
    r"WQ|bQ|WK|bK|WV|bV|WO|bO|epsilon|"
    # recurrent layers: input and recurrent weights and biases, an LSTM's gates and their deltas
    r"Wih|Whh|bih|bhh|Zi|Zf|Zg|Zo|Deltai|Deltaf|Deltag|Deltao|I|F|G)"
    r"(\d+)(?:v(\d+))?(?:t(\d+))?$"
)
# letter -> (LaTeX base, what precedes the layer in the superscript)
_PROGRAM_LATEX = {
    "Delta": (r"\Delta", ""), "mu": (r"\mu", ""), "var": (r"\sigma", r"2\,"),
    "Xhat": (r"\hat{X}", ""), "b": (r"\mathbf{b}", ""), "gamma": (r"\boldsymbol{\gamma}", ""),
    "beta": (r"\boldsymbol{\beta}", ""), "WQ": ("W_Q", ""), "WK": ("W_K", ""),
    "WV": ("W_V", ""), "WO": ("W_O", ""), "bQ": (r"\mathbf{b}_Q", ""),
    "bK": (r"\mathbf{b}_K", ""), "bV": (r"\mathbf{b}_V", ""), "bO": (r"\mathbf{b}_O", ""),
    "epsilon": (r"\epsilon", ""),
}  # fmt: skip
_PROGRAM_LATEX |= {
    "Wih": ("W_{ih}", ""), "Whh": ("W_{hh}", ""), "bih": (r"\mathbf{b}_{ih}", ""),
    "bhh": (r"\mathbf{b}_{hh}", ""), "Zi": ("Z_{i}", ""), "Zf": ("Z_{f}", ""),
    "Zg": ("Z_{g}", ""), "Zo": ("Z_{o}", ""), "Deltai": (r"\Delta_{i}", ""),
    "Deltaf": (r"\Delta_{f}", ""), "Deltag": (r"\Delta_{g}", ""), "Deltao": (r"\Delta_{o}", ""),
}  # fmt: skip
# letter -> (Unicode head that an adjoint's bar goes over, the rest before the layer)
_PROGRAM_UNICODE = {
    "Delta": ("Δ", ""), "mu": ("μ", ""), "var": ("σ", "²"), "Xhat": ("X\u0302", ""),
    "gamma": ("γ", ""), "beta": ("β", ""), "WQ": ("W", "_Q"), "WK": ("W", "_K"),
    "WV": ("W", "_V"), "WO": ("W", "_O"), "bQ": ("b", "_Q"), "bK": ("b", "_K"),
    "bV": ("b", "_V"), "bO": ("b", "_O"), "epsilon": ("ε", ""),
}  # fmt: skip
_PROGRAM_UNICODE |= {
    "Wih": ("W", "_ih"), "Whh": ("W", "_hh"), "bih": ("b", "_ih"), "bhh": ("b", "_hh"),
    "Zi": ("Z", "_i"), "Zf": ("Z", "_f"), "Zg": ("Z", "_g"), "Zo": ("Z", "_o"),
    "Deltai": ("Δ", "_i"), "Deltaf": ("Δ", "_f"), "Deltag": ("Δ", "_g"), "Deltao": ("Δ", "_o"),
}  # fmt: skip
_BAR = "\u0304"  # combining macron: the adjoint's bar in terminal text
ADJOINT_PREFIX = "d"  # an adjoint of a matrix node other than Z is d<node> (dA1, dXhat2)


def is_program_name(name: str) -> bool:
    """Tell whether a name is one a matrix program makes (Z2, dXhat2, dL_dW2, W2_new, X, L)."""
    return _program_parts(name) is not None


def _program_parts(name: str) -> tuple[str, str, str, bool, str] | None:
    """Return (letter, layer, second index, is an adjoint, time step) of a program name."""
    match = _PROGRAM_NAME.match(name)
    if match:
        return match[1], match[2], match[3] or "", False, match[4] or ""
    if name.startswith(ADJOINT_PREFIX):
        match = _PROGRAM_NAME.match(name[len(ADJOINT_PREFIX) :])
        if match:
            return match[1], match[2], match[3] or "", True, match[4] or ""
    return None


def program_latex(name: str) -> str:
    """Return the LaTeX of a matrix program's name: Z2 -> Z^{(2)}, dA1 -> \\bar{A}^{(1)}.

    An adjoint \\bar{V} is dL/dV of the batch's total loss (one column per sample); gradients
    dL_dW2 are of the mean loss, \\frac{\\partial L}{\\partial W^{(2)}}; W2_new is {W^{(2)}}^{+}.
    """
    if name.startswith(_GRADIENT_PREFIX) and len(name) > len(_GRADIENT_PREFIX):
        inner = program_latex(name[len(_GRADIENT_PREFIX) :])
        return rf"\frac{{\partial \mathcal{{L}}}}{{\partial {inner}}}"
    if name.endswith(_UPDATED_SUFFIX) and len(name) > len(_UPDATED_SUFFIX):
        return rf"{{{program_latex(name[: -len(_UPDATED_SUFFIX)])}}}^{{+}}"
    parts = _program_parts(name)
    if parts is None:
        return latex_name(name)
    letter, layer, second, adjoint, step = parts
    base, before = _PROGRAM_LATEX.get(letter, (letter, ""))
    if adjoint:
        head, _, subscript = base.partition("_")
        # A bar over an accent (x-hat) is drawn too small to see: a wider line goes over it.
        bar = r"\overline" if head.startswith(r"\hat") else r"\bar"
        base = rf"{bar}{{{head}}}" + (f"_{subscript}" if subscript else "")
    index = f"{layer},{second}" if second else layer
    # A time step of a recurrent layer: H^{(1)}_{<2>}, the hidden state after step 2.
    if step:  # braced, so that a transpose's superscript does not follow a subscript
        head, _, subscript = base.partition("_")
        if subscript and not head.endswith("{"):
            # A gate's own subscript and the step share one subscript: Z^{(1)}_{i,<2>}.
            inner = subscript[1:-1] if subscript.startswith("{") else subscript
            return rf"{{{head}^{{{before}({index})}}_{{{inner},\langle {step}\rangle}}}}"
        return rf"{{{base}^{{{before}({index})}}_{{\langle {step}\rangle}}}}"
    return f"{base}^{{{before}({index})}}"


def program_unicode(name: str) -> str:
    """Return the terminal form of a matrix program's name: dA1 -> Ā⁽¹⁾, var2 -> σ²⁽²⁾."""
    if name.startswith(_GRADIENT_PREFIX) and len(name) > len(_GRADIENT_PREFIX):
        return f"∂L/∂{program_unicode(name[len(_GRADIENT_PREFIX) :])}"
    if name.endswith(_UPDATED_SUFFIX) and len(name) > len(_UPDATED_SUFFIX):
        return f"{program_unicode(name[: -len(_UPDATED_SUFFIX)])}⁺"
    parts = _program_parts(name)
    if parts is None:
        return unicode_name(name)
    letter, layer, second, adjoint, step = parts
    head, rest = _PROGRAM_UNICODE.get(letter, (letter, ""))
    if adjoint:
        head += _BAR
    index = f"{layer},{second}" if second else layer
    time = f"⟨{step}⟩" if step else ""
    return f"{head}{rest}{_layer_unicode(index)}{time}"
