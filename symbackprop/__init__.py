"""symbackprop: backpropagation made visible -- symbolic derivations, compiled and checked."""

from __future__ import annotations

from symbackprop.activations import ACTIVATIONS, Activation, get_activation, register_activation
from symbackprop.architecture import Architecture
from symbackprop.checker import Counterexample, GradientVerdict, check_gradient
from symbackprop.derive import BlameShare, Derivation, Equation, Path, Stage, Step, derive
from symbackprop.errors import (
    NumericError,
    ParseError,
    ShapeError,
    SpecError,
    SymbackpropError,
    SymbackpropWarning,
    UnknownNameError,
)
from symbackprop.evaluation import Evaluation
from symbackprop.gradcheck import GradcheckResult, GradcheckRow, Verdict, gradcheck
from symbackprop.grading import grade
from symbackprop.losses import LOSSES, Loss, get_loss, register_loss
from symbackprop.network import Assignment, Network, NodeKind, Program, mlp
from symbackprop.numeric import CompiledNetwork, compile
from symbackprop.report import report
from symbackprop.rulebook import Rule
from symbackprop.spec import Spec, Training, load_spec
from symbackprop.train import TrainResult, train
from symbackprop.worksheet import worksheet

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
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
    "ParseError",
    "Path",
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
    "grade",
    "gradcheck",
    "load_spec",
    "mlp",
    "register_activation",
    "register_loss",
    "report",
    "train",
    "worksheet",
]
