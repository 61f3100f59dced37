"""Structured operations (TensorOp): one protocol reaches the sweep, code, printers, per element."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.model import layers as layer_kinds
from symbackprop.model.tensor_ops import Block, Embed, Stack, StopGradient, stacked_embeds


@dataclass(frozen=True)
class _Swap:
    """Test-only layer: the lower half squared, stacked over the upper half."""

    kind: ClassVar[str] = "swap"

    def n_out(self, n):
        return n

    def stage(self, builder, x, prefix):
        n = int(x.shape[0])
        half = n // 2
        lower = Block(x, (half, n))
        rhs = Stack(sp.HadamardProduct(lower, lower), Block(x, (0, half)))
        return builder.node("S", rhs, prefix.rstrip("."), "swap")

    def describe(self):
        return "swap"


@pytest.fixture
def swap_network(monkeypatch):
    monkeypatch.setattr(layer_kinds, "_LAYER_CLASSES", (*layer_kinds._LAYER_CLASSES, _Swap))
    return sb.sequential(4, [sb.Dense(4), _Swap(), "tanh", sb.Dense(2), "softmax"])


def test_blocks_and_stacks_derive_and_agree_with_finite_differences(swap_network):
    params = swap_network.init_params(1)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 4)), np.eye(2)[[0, 1, 1]]
    assert sb.gradcheck(swap_network, params, X, Y).ok
    text = sb.derive(swap_network).to_text()
    assert "[Z⁽¹⁾[3:4] ⊙ Z⁽¹⁾[3:4]; Z⁽¹⁾[1:2]]" in text and "embed[" in text


def test_the_per_element_view_expands_blocks_and_agrees(swap_network):
    params = swap_network.init_params(2)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(2, 4)), np.eye(2)[[1, 0]]
    view = sb.per_element(swap_network, 2)
    scalar = sb.compile(view.network).gradient(view.params(params), *view.data(X, Y))
    matrix = sb.compile(swap_network).gradient(params, X, Y)
    for parameter in swap_network.program.parameters:
        names = view.entries[str(parameter.symbol.name)]
        values = np.array([[scalar[str(s)] for s in row] for row in names.tolist()])
        np.testing.assert_allclose(
            values.reshape(parameter.state_shape), matrix[parameter.state_name], rtol=1e-9
        )


def test_embeds_that_tile_a_matrix_read_as_a_stack():
    g1, g2 = sp.MatrixSymbol("G1", 2, 3), sp.MatrixSymbol("G2", 1, 3)
    assert stacked_embeds([Embed(g2, (2, 3)), Embed(g1, (0, 3))]) == Stack(g1, g2)
    assert stacked_embeds([Embed(g1, (0, 4)), Embed(g2, (3, 4))]) is None  # a gap at row 2
    assert stacked_embeds([Embed(g1, (0, 3))]) is None


def test_operations_rebuild_from_their_args_and_stop_gradient_sends_nothing():
    X = sp.MatrixSymbol("X", 4, 2)
    for op in (Block(X, (1, 3)), Stack(X, X), Embed(X, (1, 6)), StopGradient(X)):
        assert op.func(*op.args) == op
    assert StopGradient(X).adjoint_terms(X, X) == []
    assert Block(X, (1, 3)).shape == (2, 2) and Embed(X, (1, 6)).shape == (6, 2)


def test_an_operation_without_its_hooks_is_refused_when_its_class_is_made():
    from symbackprop.model.tensor_ops import TensorOp

    with pytest.raises(TypeError, match="needs explicit, latex, text, shape"):

        class _Half(TensorOp):  # a kernel but nothing else
            kernel = "half"

    class _Shared(TensorOp):  # no kernel: a shared base of several operations, allowed
        pass

    assert _Shared.kernel == ""
