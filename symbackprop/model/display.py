"""Display hooks: how a Network or a Derivation is rendered, registered from above (model layer).

``Derivation.to_latex()``, ``Network._repr_svg_()`` and the other rendering conveniences are
methods of value objects that must not import a renderer (imports point down the pipeline).
Each looks its renderer up here by a name such as ``"derivation.latex"``; the interface layer
(``symbackprop/__init__.py``) registers the renderers of the render stage when the package is
imported, so the conveniences work whenever ``symbackprop`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Renderer = Callable[..., Any]

# The conveniences the value objects offer, each with the renderer it needs.
VIEWS = (
    "derivation.text",
    "derivation.markdown",
    "derivation.latex",
    "derivation.html",
    "derivation.notebook_latex",
    "equations.html",
    "equations.latex",
    "blame.html",
    "blame.latex",
    "matrix_derivation.text",
    "matrix_derivation.markdown",
    "matrix_derivation.latex",
    "matrix_derivation.html",
    "network.svg",
    "network.html",
)

_RENDERERS: dict[str, Renderer] = {}


def register_renderer(view: str, renderer: Renderer) -> None:
    """Make ``renderer`` the one behind ``view`` (one of :data:`VIEWS`)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    _RENDERERS[view] = renderer


def render(view: str, *args: Any) -> Any:
    """Return ``view`` of ``args`` as its registered renderer makes it."""
    renderer = _RENDERERS.get(view)
    if renderer is None:
        # Only reachable when a module is loaded without its package (the package registers).
        raise RuntimeError(f"no renderer for {view!r}; import symbackprop to register them")
    return renderer(*args)
