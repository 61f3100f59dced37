"""symbackprop: backpropagation made visible -- symbolic derivations, compiled and checked.

The interface layer: the public API, re-exported from the pipeline's stages (model, derivation,
numeric, checks, render, worksheets), and the wiring of the value objects' rendering
conveniences (``Derivation.to_latex``, Jupyter display) to the render stage.
"""

from __future__ import annotations

from symbackprop.checks.checker import GradientVerdict, check_gradient
from symbackprop.checks.gradcheck import GradcheckResult, GradcheckRow, Verdict, gradcheck
from symbackprop.checks.probing import Counterexample
from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.derive import derive
from symbackprop.derivation.evaluation import Evaluation
from symbackprop.derivation.steps import BlameShare, Equation, Path, Stage, Step
from symbackprop.model import display as _display
from symbackprop.model.activations import (
    ACTIVATIONS,
    Activation,
    get_activation,
    register_activation,
)
from symbackprop.model.architecture import Architecture
from symbackprop.model.errors import (
    NumericError,
    ParseError,
    ShapeError,
    SpecError,
    SymbackpropError,
    SymbackpropWarning,
    UnknownNameError,
)
from symbackprop.model.losses import LOSSES, Loss, get_loss, register_loss
from symbackprop.model.network import Network, mlp
from symbackprop.model.optimizers import OPTIMIZERS, Optimizer, get_optimizer, register_optimizer
from symbackprop.model.penalty import Penalty
from symbackprop.model.program import Assignment, NodeKind, Program
from symbackprop.model.rulebook import Rule
from symbackprop.model.specs.spec import Spec, Training, load_spec
from symbackprop.numeric.compiled import CompiledNetwork, compile
from symbackprop.numeric.train import TrainResult, train
from symbackprop.render import diagrams as _diagrams
from symbackprop.render import report as _report
from symbackprop.render import text as _text
from symbackprop.render.report import report
from symbackprop.worksheets.generate import worksheet
from symbackprop.worksheets.grading import grade

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "Activation",
    "Architecture",
    "Assignment",
    "BlameShare",
    "CompiledNetwork",
    "Counterexample",
    "Derivation",
    "Equation",
    "Evaluation",
    "GradcheckResult",
    "GradcheckRow",
    "GradientVerdict",
    "Loss",
    "Network",
    "NodeKind",
    "NumericError",
    "Optimizer",
    "ParseError",
    "Path",
    "Penalty",
    "Program",
    "Rule",
    "ShapeError",
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
    "get_activation",
    "get_loss",
    "get_optimizer",
    "grade",
    "gradcheck",
    "load_spec",
    "mlp",
    "register_activation",
    "register_loss",
    "register_optimizer",
    "report",
    "train",
    "worksheet",
]

# Derivation and Network render through these (they may not import the render stage).
_display.register_renderer("derivation.text", _text.derivation_text)
_display.register_renderer("derivation.markdown", _text.derivation_markdown)
_display.register_renderer("derivation.latex", _text.derivation_latex)
_display.register_renderer("derivation.html", _report.derivation_html)
_display.register_renderer("network.svg", _diagrams.network_svg)
_display.register_renderer("network.html", _report.network_html)
