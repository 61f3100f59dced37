"""Registry of optimisers: the update stage's rules, one parameter's step as SymPy (model layer).

Backpropagation computes the gradients; an optimiser uses them. Each entry writes one step for
one generic parameter theta with gradient g = dL/dtheta, its state (v, m, s: zero before the
first step) and the step number t (1 for the first), in the rules' names and as PyTorch's
``torch.optim`` computes it (float64, no weight decay: a penalty is a loss term here):

- sgd:       theta+ = theta - eta g
- momentum:  v+ = mu v + g;  theta+ = theta - eta v+                      (heavy ball)
- nesterov:  v+ = mu v + g;  theta+ = theta - eta (g + mu v+)
- rmsprop:   s+ = rho s + (1 - rho) g^2;  theta+ = theta - eta g / (sqrt(s+) + eps)
- adam:      m+ = beta1 m + (1 - beta1) g;  s+ = beta2 s + (1 - beta2) g^2;
             theta+ = theta - eta (m+ / (1 - beta1^t)) / (sqrt(s+ / (1 - beta2^t)) + eps)

The derivation writes these steps for every parameter; ``train`` compiles the same steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import sympy as sp

from symbackprop.model import notation
from symbackprop.model.errors import SpecError, unknown_name
from symbackprop.model.registry import Registry
from symbackprop.model.rulebook import Rule

LEARNING_RATE = sp.Symbol(notation.LEARNING_RATE)
STEP_NUMBER = sp.Symbol(notation.STEP_NUMBER)
# The generic parameter and gradient the entries are written for.
THETA = sp.Symbol("theta")
GRADIENT = sp.Symbol(notation.gradient_name("theta"))


@dataclass(frozen=True, slots=True)
class UpdateLine:
    """One line of an optimiser step: ``target`` ("theta" or a state kind) := rhs."""

    target: str
    rhs: sp.Expr
    rule: Rule


@dataclass(frozen=True, slots=True)
class Optimizer:
    """One optimiser: its state kinds, hyperparameters (with values) and one step's lines.

    ``lines(theta, g, old, new)`` writes the step with ``old[kind]`` the state before it and
    ``new[kind]`` the state after (the lines may use a state's new value once it is made);
    hyperparameters appear as their symbols (mu, rho, beta1, beta2, epsilon) and eta, t.
    """

    name: str
    state: tuple[str, ...]
    settings: tuple[tuple[str, float], ...]
    lines: Callable[
        [sp.Symbol, sp.Symbol, Mapping[str, sp.Symbol], Mapping[str, sp.Symbol]],
        tuple[UpdateLine, ...],
    ]
    summary: str  # one line for help texts

    def configured(self, **values: float) -> Optimizer:
        """Return this optimiser with some hyperparameters set (e.g. momentum=0.8)."""
        known = dict(self.settings)
        for key, value in values.items():
            if key not in known:
                raise unknown_name(f"setting of optimizer {self.name!r}", key, known)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"{key} {value!r} is not a number; give e.g. {known[key]}")
            if not math.isfinite(value) or not _in_range(key, value):
                raise SpecError(f"{key} {value!r} is out of range; {_RANGES[key][2]}")
            known[key] = float(value)
        return replace(self, settings=tuple(known.items()))

    def hyperparameters(self) -> dict[str, float]:
        """Return {symbol name: value} of the hyperparameters (mu, beta1, ...)."""
        return {notation.hyperparameter_name(key): value for key, value in self.settings}

    def state_symbols(self, parameter: str) -> tuple[dict[str, sp.Symbol], dict[str, sp.Symbol]]:
        """Return (state before, state after) of one parameter: v_w1 and v_w1_new, ..."""
        old = {kind: sp.Symbol(notation.state_name(kind, parameter)) for kind in self.state}
        new = {kind: sp.Symbol(notation.updated_name(s.name)) for kind, s in old.items()}
        return old, new


# Every setting an optimiser may take (a spec's [training] keys).
OPTIMIZER_SETTINGS = ("momentum", "rho", "beta1", "beta2", "epsilon")
_RANGES = {
    "momentum": (0.0, 1.0, "give 0 <= momentum < 1, e.g. 0.9"),
    "rho": (0.0, 1.0, "give 0 <= rho < 1, e.g. 0.99"),
    "beta1": (0.0, 1.0, "give 0 <= beta1 < 1, e.g. 0.9"),
    "beta2": (0.0, 1.0, "give 0 <= beta2 < 1, e.g. 0.999"),
    "epsilon": (0.0, math.inf, "give a small positive epsilon, e.g. 1e-8"),
}


def _in_range(key: str, value: float) -> bool:
    low, high, _ = _RANGES[key]
    if key == "epsilon":
        return value > low
    return low <= value < high


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


def register_optimizer(entry: Optimizer) -> Optimizer:
    """Add an optimiser; the tests against torch.optim then cover it where torch has it."""
    return OPTIMIZERS.register(entry)


def get_optimizer(name: str | Optimizer, where: str = "") -> Optimizer:
    """Look an optimiser up by name (an Optimizer is returned as it is)."""
    if isinstance(name, Optimizer):
        return name
    return OPTIMIZERS.lookup(name, where)


def _symbol(key: str) -> sp.Symbol:
    return sp.Symbol(notation.hyperparameter_name(key))


def _sgd(theta: sp.Symbol, g: sp.Symbol, old: Mapping, new: Mapping) -> tuple[UpdateLine, ...]:
    return (UpdateLine("theta", theta - LEARNING_RATE * g, Rule.GRADIENT_DESCENT),)


def _momentum(theta: sp.Symbol, g: sp.Symbol, old: Mapping, new: Mapping) -> tuple[UpdateLine, ...]:
    mu = _symbol("momentum")
    return (
        UpdateLine("v", mu * old["v"] + g, Rule.MOMENTUM_VELOCITY),
        UpdateLine("theta", theta - LEARNING_RATE * new["v"], Rule.MOMENTUM_STEP),
    )


def _nesterov(theta: sp.Symbol, g: sp.Symbol, old: Mapping, new: Mapping) -> tuple[UpdateLine, ...]:
    mu = _symbol("momentum")
    return (
        UpdateLine("v", mu * old["v"] + g, Rule.MOMENTUM_VELOCITY),
        UpdateLine("theta", theta - LEARNING_RATE * (g + mu * new["v"]), Rule.NESTEROV_STEP),
    )


def _rmsprop(theta: sp.Symbol, g: sp.Symbol, old: Mapping, new: Mapping) -> tuple[UpdateLine, ...]:
    rho, epsilon = _symbol("rho"), _symbol("epsilon")
    return (
        UpdateLine("s", rho * old["s"] + (1 - rho) * g**2, Rule.SQUARED_GRADIENT_AVERAGE),
        UpdateLine(
            "theta", theta - LEARNING_RATE * g / (sp.sqrt(new["s"]) + epsilon), Rule.RMSPROP_STEP
        ),
    )


def _adam(theta: sp.Symbol, g: sp.Symbol, old: Mapping, new: Mapping) -> tuple[UpdateLine, ...]:
    beta1, beta2, epsilon = _symbol("beta1"), _symbol("beta2"), _symbol("epsilon")
    t = STEP_NUMBER
    m_hat = new["m"] / (1 - beta1**t)
    s_hat = new["s"] / (1 - beta2**t)
    return (
        UpdateLine("m", beta1 * old["m"] + (1 - beta1) * g, Rule.GRADIENT_AVERAGE),
        UpdateLine("s", beta2 * old["s"] + (1 - beta2) * g**2, Rule.SQUARED_GRADIENT_AVERAGE),
        UpdateLine(
            "theta", theta - LEARNING_RATE * m_hat / (sp.sqrt(s_hat) + epsilon), Rule.ADAM_STEP
        ),
    )


SGD = register_optimizer(Optimizer("sgd", (), (), _sgd, "theta <- theta - eta g"))
MOMENTUM = register_optimizer(
    Optimizer(
        "momentum",
        ("v",),
        (("momentum", 0.9),),
        _momentum,
        "heavy ball: v <- mu v + g, theta <- theta - eta v",
    )
)
NESTEROV = register_optimizer(
    Optimizer(
        "nesterov",
        ("v",),
        (("momentum", 0.9),),
        _nesterov,
        "v <- mu v + g, theta <- theta - eta (g + mu v)",
    )
)
RMSPROP = register_optimizer(
    Optimizer(
        "rmsprop",
        ("s",),
        (("rho", 0.99), ("epsilon", 1e-8)),
        _rmsprop,
        "s <- rho s + (1 - rho) g^2, theta <- theta - eta g / (sqrt(s) + eps)",
    )
)
ADAM = register_optimizer(
    Optimizer(
        "adam",
        ("m", "s"),
        (("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8)),
        _adam,
        "bias-corrected averages m of g and s of g^2, theta <- theta - eta m^ / (sqrt(s^) + eps)",
    )
)
