"""symbackprop: backpropagation made visible -- symbolic derivations, compiled and checked.

The interface layer: the public API, re-exported from the pipeline's stages (model, derivation,
numeric, checks, render, worksheets), and the wiring of the value objects' rendering
conveniences (``Derivation.to_latex``, Jupyter display) to the render stage.

Importing the package loads none of the stages: each public name is imported from its module
the first time it is used (``sb.derive`` loads SymPy and the derivation engine; ``sb.report``
the templates as well), so that ``import symbackprop`` and ``symbackprop --version`` are
instant and a script pays only for what it uses. The names are listed in ``_SOURCES``; type
checkers read them from the imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from symbackprop.model import display as _display

if TYPE_CHECKING:
    from symbackprop.checks.checker import (
        GradientVerdict,
        check_gradient,
    )
    from symbackprop.checks.gradcheck import (
        GradcheckResult,
        GradcheckRow,
        Verdict,
        gradcheck,
    )
    from symbackprop.checks.matrix_checker import (
        MatrixCounterexample,
        MatrixGradientVerdict,
    )
    from symbackprop.checks.probing import Counterexample
    from symbackprop.derivation.derivation import Derivation
    from symbackprop.derivation.derive import derive
    from symbackprop.derivation.evaluation import Evaluation
    from symbackprop.derivation.matrix_derivation import MatrixDerivation
    from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
    from symbackprop.derivation.matrix_expand import (
        ElementView,
        per_element,
    )
    from symbackprop.derivation.matrix_steps import (
        MatrixPath,
        MatrixStep,
    )
    from symbackprop.derivation.steps import (
        BlameShare,
        Equation,
        Path,
        Stage,
        Step,
    )
    from symbackprop.model import layers
    from symbackprop.model.activations import (
        ACTIVATIONS,
        Activation,
        get_activation,
        register_activation,
    )
    from symbackprop.model.architecture import Architecture
    from symbackprop.model.conv_layers import (
        AvgPool1d,
        AvgPool2d,
        Conv1d,
        Conv2d,
        MaxPool1d,
        MaxPool2d,
    )
    from symbackprop.model.errors import (
        NumericError,
        ParseError,
        ShapeError,
        SpecError,
        SymbackpropError,
        SymbackpropWarning,
        UnknownNameError,
    )
    from symbackprop.model.layers import (
        BatchNorm,
        Dense,
        Dropout,
        Elementwise,
        Flatten,
        LayerNorm,
        Residual,
        SelfAttention,
        Softmax,
    )
    from symbackprop.model.losses import (
        LOSSES,
        Loss,
        get_loss,
        register_loss,
    )
    from symbackprop.model.network import (
        Network,
        mlp,
    )
    from symbackprop.model.optimizers import (
        OPTIMIZERS,
        Optimizer,
        get_optimizer,
        register_optimizer,
    )
    from symbackprop.model.penalty import Penalty
    from symbackprop.model.program import (
        Assignment,
        NodeKind,
        Program,
    )
    from symbackprop.model.recurrent_layers import (
        LSTM,
        RNN,
    )
    from symbackprop.model.rulebook import Rule
    from symbackprop.model.sequential import (
        LayerNetwork,
        sequential,
    )
    from symbackprop.model.specs.spec import (
        Spec,
        Training,
        load_spec,
    )
    from symbackprop.model.torch_import import from_torch
    from symbackprop.numeric.compiled import (
        CompiledNetwork,
        compile,
    )
    from symbackprop.numeric.train import (
        TrainResult,
        train,
    )
    from symbackprop.render.explorer import explore
    from symbackprop.render.report import report
    from symbackprop.worksheets.generate import worksheet
    from symbackprop.worksheets.grading import grade

__version__ = "0.1.0"

# Where each public name lives; imported from there on first use (see __getattr__).
_SOURCES: dict[str, tuple[str, ...]] = {
    "symbackprop.checks.checker": ("GradientVerdict", "check_gradient"),
    "symbackprop.checks.gradcheck": ("GradcheckResult", "GradcheckRow", "Verdict", "gradcheck"),
    "symbackprop.checks.matrix_checker": ("MatrixCounterexample", "MatrixGradientVerdict"),
    "symbackprop.checks.probing": ("Counterexample",),
    "symbackprop.derivation.derivation": ("Derivation",),
    "symbackprop.derivation.derive": ("derive",),
    "symbackprop.derivation.evaluation": ("Evaluation",),
    "symbackprop.derivation.matrix_derivation": ("MatrixDerivation",),
    "symbackprop.derivation.matrix_evaluation": ("MatrixEvaluation",),
    "symbackprop.derivation.matrix_expand": ("ElementView", "per_element"),
    "symbackprop.derivation.matrix_steps": ("MatrixPath", "MatrixStep"),
    "symbackprop.derivation.steps": ("BlameShare", "Equation", "Path", "Stage", "Step"),
    "symbackprop.model.activations": (
        "ACTIVATIONS",
        "Activation",
        "get_activation",
        "register_activation",
    ),
    "symbackprop.model.architecture": ("Architecture",),
    "symbackprop.model.conv_layers": (
        "AvgPool1d",
        "AvgPool2d",
        "Conv1d",
        "Conv2d",
        "MaxPool1d",
        "MaxPool2d",
    ),
    "symbackprop.model.errors": (
        "NumericError",
        "ParseError",
        "ShapeError",
        "SpecError",
        "SymbackpropError",
        "SymbackpropWarning",
        "UnknownNameError",
    ),
    "symbackprop.model.layers": (
        "BatchNorm",
        "Dense",
        "Dropout",
        "Elementwise",
        "Flatten",
        "LayerNorm",
        "Residual",
        "SelfAttention",
        "Softmax",
    ),
    "symbackprop.model.losses": ("LOSSES", "Loss", "get_loss", "register_loss"),
    "symbackprop.model.network": ("Network", "mlp"),
    "symbackprop.model.optimizers": (
        "OPTIMIZERS",
        "Optimizer",
        "get_optimizer",
        "register_optimizer",
    ),
    "symbackprop.model.penalty": ("Penalty",),
    "symbackprop.model.program": ("Assignment", "NodeKind", "Program"),
    "symbackprop.model.recurrent_layers": ("LSTM", "RNN"),
    "symbackprop.model.rulebook": ("Rule",),
    "symbackprop.model.sequential": ("LayerNetwork", "sequential"),
    "symbackprop.model.specs.spec": ("Spec", "Training", "load_spec"),
    "symbackprop.model.torch_import": ("from_torch",),
    "symbackprop.numeric.compiled": ("CompiledNetwork", "compile"),
    "symbackprop.numeric.train": ("TrainResult", "train"),
    "symbackprop.render.explorer": ("explore",),
    "symbackprop.render.report": ("report",),
    "symbackprop.worksheets.generate": ("worksheet",),
    "symbackprop.worksheets.grading": ("grade",),
}
_ORIGIN = {name: module for module, names in _SOURCES.items() for name in names}
# Public names that are modules, and the stages (reached as attributes: sb.model, sb.render).
_MODULES = {"layers": "symbackprop.model.layers"} | {
    stage: f"symbackprop.{stage}"
    for stage in ("model", "derivation", "numeric", "checks", "render", "worksheets", "cli")
}

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "Activation",
    "Architecture",
    "Assignment",
    "AvgPool1d",
    "AvgPool2d",
    "BatchNorm",
    "BlameShare",
    "CompiledNetwork",
    "Conv1d",
    "Conv2d",
    "Counterexample",
    "Dense",
    "Derivation",
    "Dropout",
    "ElementView",
    "Elementwise",
    "Equation",
    "Evaluation",
    "Flatten",
    "GradcheckResult",
    "GradcheckRow",
    "GradientVerdict",
    "LayerNetwork",
    "LayerNorm",
    "LSTM",
    "Loss",
    "MatrixCounterexample",
    "MatrixDerivation",
    "MatrixEvaluation",
    "MatrixGradientVerdict",
    "MatrixPath",
    "MatrixStep",
    "MaxPool1d",
    "MaxPool2d",
    "Network",
    "NodeKind",
    "NumericError",
    "Optimizer",
    "ParseError",
    "Path",
    "Penalty",
    "Program",
    "Residual",
    "RNN",
    "Rule",
    "SelfAttention",
    "ShapeError",
    "Softmax",
    "Spec",
    "SpecError",
    "Stage",
    "Step",
    "SymbackpropError",
    "SymbackpropWarning",
    "TrainResult",
    "Training",
    "UnknownNameError",
    "Verdict",
    "check_gradient",
    "compile",
    "derive",
    "explore",
    "from_torch",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "grade",
    "gradcheck",
    "layers",
    "load_spec",
    "mlp",
    "per_element",
    "register_activation",
    "register_loss",
    "register_optimizer",
    "report",
    "sequential",
    "train",
    "worksheet",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its stage the first time it is used, and keep it here."""
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _ORIGIN:
        value = getattr(importlib.import_module(_ORIGIN[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _renderer(module: str, function: str) -> Callable[..., Any]:
    """The render stage's ``module.function``, imported when something is first rendered."""

    def render(*args: Any) -> Any:
        return getattr(importlib.import_module(module), function)(*args)

    render.__name__ = render.__qualname__ = function
    return render


# Derivation and Network render through these (they may not import the render stage).
_RENDERERS = {
    "derivation.text": ("symbackprop.render.text", "derivation_text"),
    "derivation.markdown": ("symbackprop.render.text", "derivation_markdown"),
    "derivation.latex": ("symbackprop.render.text", "derivation_latex"),
    "derivation.html": ("symbackprop.render.report", "derivation_html"),
    "derivation.notebook_latex": ("symbackprop.render.notebook", "derivation_notebook_latex"),
    "equations.html": ("symbackprop.render.notebook", "equations_html"),
    "equations.latex": ("symbackprop.render.notebook", "equations_latex"),
    "blame.html": ("symbackprop.render.notebook", "blame_html"),
    "blame.latex": ("symbackprop.render.notebook", "blame_latex"),
    "matrix_derivation.text": ("symbackprop.render.matrix_text", "matrix_derivation_text"),
    "matrix_derivation.markdown": ("symbackprop.render.matrix_text", "matrix_derivation_markdown"),
    "matrix_derivation.latex": ("symbackprop.render.matrix_text", "matrix_derivation_latex"),
    "matrix_derivation.html": ("symbackprop.render.report", "matrix_derivation_html"),
    "network.svg": ("symbackprop.render.diagrams", "network_svg"),
    "network.html": ("symbackprop.render.report", "network_html"),
}
for _view, (_module, _function) in _RENDERERS.items():
    _display.register_renderer(_view, _renderer(_module, _function))
del _view, _module, _function
