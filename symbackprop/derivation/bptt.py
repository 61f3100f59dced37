"""Vanishing and exploding gradients of a vanilla RNN, in numbers (derivation, NumPy).

For H<t> = tanh(W_hh H<t-1> + ...), the blame that the last hidden state sends back to step t
travels through the Jacobian product

    dH<T>/dH<t> = prod_{k = T}^{t+1} diag(1 - H<k>^2) W_hh
                = diag(1 - H<T>^2) W_hh diag(1 - H<T-1>^2) W_hh ... diag(1 - H<t+1>^2) W_hh,

one factor per step. When the factors' norms sit below 1 the product shrinks geometrically
with T - t (vanishing gradients); above 1 it can grow (exploding gradients). The norm reported
is the spectral norm (the largest singular value: how much the product can stretch a vector).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbackprop.derivation.matrix_evaluation import MatrixEvaluation
from symbackprop.model.errors import ShapeError
from symbackprop.model.functions import FloatArray


@dataclass(frozen=True, slots=True)
class StateJacobian:
    """dH<T>/dH<t> of one sample and its spectral norm."""

    step: int  # t
    jacobian: FloatArray  # (h, h)
    norm: float  # the spectral norm ||dH<T>/dH<t>||_2


def hidden_state_jacobians(
    evaluation: MatrixEvaluation, level: int = 1, sample: int = 0
) -> tuple[StateJacobian, ...]:
    """Return dH<T>/dH<t> for t = T-1 .. 1 of one sample of the RNN layer numbered ``level``.

    ``evaluation`` is ``derive(net).evaluate(params, X, Y)``; ``sample`` is the column (from 0).
    """
    values = evaluation.values
    W_hh = values.get(f"Whh{level}")
    states = _states(values, level)
    if W_hh is None or not states or W_hh.shape[0] != W_hh.shape[1]:
        raise ShapeError(f"no vanilla RNN layer numbered {level} in this derivation; give the "
                         "level of an rnn layer (the (l) of its W_hh)")  # fmt: skip
    if not 0 <= sample < evaluation.batch:
        raise ShapeError(f"sample {sample} is not in the batch of {evaluation.batch}; give 0 to "
                         f"{evaluation.batch - 1}")  # fmt: skip
    product = np.eye(W_hh.shape[0])
    out = []
    for t in range(len(states) - 1, 0, -1):  # factor k = t + 1 joins the product
        h = states[t][:, sample]  # H<t+1> (states[0] is H<1>)
        product = product @ (np.diag(1 - h**2) @ W_hh)
        out.append(StateJacobian(t, product.copy(), float(np.linalg.norm(product, 2))))
    return tuple(out)


def _states(values: object, level: int) -> list[FloatArray]:
    states = []
    t = 1
    while f"H{level}t{t}" in values:  # type: ignore[operator]
        states.append(np.asarray(values[f"H{level}t{t}"]))  # type: ignore[index]
        t += 1
    return states
