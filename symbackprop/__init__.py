"""symbackprop: backpropagation made visible -- symbolic derivations, compiled and checked.

The interface layer: the public API, re-exported from the pipeline's stages (model, derivation,
numeric, checks, render, worksheets), and the wiring of the value objects' rendering
conveniences (``Derivation.to_latex``, Jupyter display) to the render stage.
"""

from __future__ import annotations

from symbackprop.checks.checker import GradientVerdict, check_gradient
from symbackprop.checks.gradcheck import GradcheckResult, GradcheckRow, Verdict, gradcheck
from symbackprop.checks.matrix_checker import MatrixCounterexample, MatrixGradientVerdict
from symbackprop.checks.probing import Counterexample
from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.derive import derive
from symbackprop.derivation.evaluation import Evaluation
from symbackprop.derivation.matrix_derivation import MatrixDerivation
from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
from symbackprop.derivation.matrix_expand import ElementView, per_element
from symbackprop.derivation.matrix_steps import MatrixPath, MatrixStep
from symbackprop.derivation.steps import BlameShare, Equation, Path, Stage, Step
from symbackprop.model import display as _display
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
from symbackprop.model.losses import LOSSES, Loss, get_loss, register_loss
from symbackprop.model.network import Network, mlp
from symbackprop.model.optimizers import OPTIMIZERS, Optimizer, get_optimizer, register_optimizer
from symbackprop.model.penalty import Penalty
from symbackprop.model.program import Assignment, NodeKind, Program
from symbackprop.model.recurrent_layers import LSTM, RNN
from symbackprop.model.rulebook import Rule
from symbackprop.model.sequential import LayerNetwork, sequential
from symbackprop.model.specs.spec import Spec, Training, load_spec
from symbackprop.model.torch_import import from_torch
from symbackprop.numeric.compiled import CompiledNetwork, compile
from symbackprop.numeric.train import TrainResult, train
from symbackprop.render import diagrams as _diagrams
from symbackprop.render import matrix_text as _matrix_text
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

# Derivation and Network render through these (they may not import the render stage).
_display.register_renderer("derivation.text", _text.derivation_text)
_display.register_renderer("derivation.markdown", _text.derivation_markdown)
_display.register_renderer("derivation.latex", _text.derivation_latex)
_display.register_renderer("derivation.html", _report.derivation_html)
_display.register_renderer("matrix_derivation.text", _matrix_text.matrix_derivation_text)
_display.register_renderer("matrix_derivation.markdown", _matrix_text.matrix_derivation_markdown)
_display.register_renderer("matrix_derivation.latex", _matrix_text.matrix_derivation_latex)
_display.register_renderer("matrix_derivation.html", _report.matrix_derivation_html)
_display.register_renderer("network.svg", _diagrams.network_svg)
_display.register_renderer("network.html", _report.network_html)
