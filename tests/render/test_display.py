"""Jupyter display of a Derivation and a Network, wired to the renderers by the package."""

from __future__ import annotations

import symbackprop as sb

RTOL_EXACT = 1e-9  # two float64 evaluations of one formula differ only by rounding


def test_jupyter_displays_a_derivation_and_a_network():
    net = sb.mlp([2, 2, 2])
    html = sb.derive(net)._repr_html_()
    assert "<math" in html and "\\frac" not in html
    assert "\\delta" in sb.derive(net)._repr_latex_()
    assert "<" in net._repr_html_()
