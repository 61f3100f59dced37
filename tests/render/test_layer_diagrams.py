"""Drawings of networks of layers: feature maps as grids, recurrences unrolled in time."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.model import layers as layer_kinds
from symbackprop.model.matrices import elementwise, ones
from symbackprop.model.matrix_program import BATCH
from symbackprop.model.tensor_ops import Block
from symbackprop.render.diagrams import has_dot, run_dot
from symbackprop.render.layer_diagrams import diagram_kind, layer_diagram_dot


@dataclass(frozen=True)
class _TinyRecurrence:
    """Test-only recurrent layer: H<t> = tanh(W x<t> + b 1^T + V H<t-1>)."""

    hidden: int
    kind: ClassVar[str] = "tiny_recurrence"

    def n_out(self, n):
        return self.hidden

    def out_shape(self, shape):
        return (self.hidden,)

    def stage(self, builder, x, prefix):
        steps, n = builder.shape
        builder.next_level()
        h = self.hidden
        W = builder.parameter("W", prefix + "w", h, n, (h, n), "uniform_fan_in", h)  # noqa: N806
        V = builder.parameter("V", prefix + "v", h, h, (h, h), "uniform_fan_in", h)  # noqa: N806
        b = builder.parameter("b", prefix + "b", h, 1, (h,), "uniform_fan_in", h)
        state = None
        for t in range(1, steps + 1):
            rhs = W * Block(x, ((t - 1) * n, t * n)) + b * ones(1, BATCH)
            if state is not None:
                rhs = rhs + V * state
            Z = builder.node("Z", rhs, prefix.rstrip("."), "affine", step=t)  # noqa: N806
            state = builder.node("H", elementwise("tanh", Z), prefix.rstrip("."), "activation",
                                 step=t)  # fmt: skip
        return state

    def describe(self):
        return "tiny recurrence"


@pytest.fixture
def recurrent(monkeypatch):
    classes = (*layer_kinds._LAYER_CLASSES, _TinyRecurrence)
    monkeypatch.setattr(layer_kinds, "_LAYER_CLASSES", classes)
    net = sb.sequential((3, 2), [_TinyRecurrence(2), sb.Dense(2), "softmax"])
    X = np.random.default_rng(0).normal(size=(2, 3, 2))
    return net, net.init_params(0), X, np.eye(2)


def test_a_recurrence_is_drawn_unrolled_with_values_and_adjoints(recurrent):
    net, params, X, Y = recurrent
    d = sb.derive(net)
    ev = d.evaluate(params, X, Y)
    assert sb.gradcheck(net, params, X, Y).ok
    assert diagram_kind(d.program) == "unrolled"
    dot = layer_diagram_dot(d, ev)
    for t in (1, 2, 3):
        assert f"x⟨{t}⟩" in dot and f"H⁽¹⁾⟨{t}⟩" in dot
    assert "H1t1 -> Z1t2" in dot and "H1t2 -> Z1t3" in dot  # the recurrent edges
    assert "constraint=false" in dot
    first = ev.values["dH1t2"][:, 0]
    assert f"H̄⁽¹⁾⟨2⟩ = [{sb_text(first[0])}" in dot  # the adjoint on the wire, sample 1


def sb_text(value):
    from symbackprop.render.matrix_sections import entry_text

    return entry_text(value)


def test_feature_maps_are_drawn_as_grids_with_their_numbers():
    net = sb.sequential((1, 3, 3), [sb.Flatten(), sb.Dense(2), "softmax"])
    X = np.arange(18.0).reshape(2, 1, 3, 3) / 10
    d = sb.derive(net)
    ev = d.evaluate(net.init_params(0), X, np.eye(2))
    assert diagram_kind(d.program) == "maps"
    dot = layer_diagram_dot(d, ev)
    assert "X (sample 1)" in dot and "1 channel of 3x3" in dot
    assert dot.count("<TD BGCOLOR=") == 9 + 2  # the 3x3 input and the 2 outputs
    assert ">0.8</FONT>" in dot


@pytest.mark.skipif(not has_dot(), reason="Graphviz 'dot' is not installed")
def test_both_drawings_are_laid_out_by_dot(recurrent):
    net, params, X, Y = recurrent
    d = sb.derive(net)
    assert run_dot(layer_diagram_dot(d, d.evaluate(params, X, Y)), "svg").startswith(b"<?xml")
    maps = sb.sequential((2, 3, 3), [sb.Flatten(), sb.Dense(2), "softmax"])
    md = sb.derive(maps)
    ev = md.evaluate(maps.init_params(0), np.ones((1, 2, 3, 3)), np.eye(2)[:1])
    assert b"<svg" in run_dot(layer_diagram_dot(md, ev), "svg")


def test_a_dense_network_has_no_layer_drawing():
    assert diagram_kind(sb.sequential(3, [sb.Dense(2), "softmax"]).program) is None


def test_an_lstm_is_drawn_by_its_states_with_the_gates_passed_through():
    from pathlib import Path

    from symbackprop.model.specs.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "examples" / "layers" / "lstm.toml")
    d = sb.derive(spec.network)
    dot = layer_diagram_dot(d, d.evaluate(dict(spec.params), *spec.data))
    assert "C1t1 -> C1t2" in dot and "H1t1 -> C1t2" in dot  # the cell's and the state's roads
    assert "I1t2 [" not in dot and "the gates are left out" in dot
    assert "x_t2 -> C1t2" in dot and "style=dashed" in dot
