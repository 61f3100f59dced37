"""compile(..., backend=...): the array libraries a derivation's generated code runs on (numeric).

"numpy" is the default (``compiled.py``, which dispatches the others here); "torch" and "jax"
run the very same generated matrix code (``array_runner.py``) over their own arrays, on a GPU
when there is one; a per-neuron network (``sb.mlp``, expressions) runs its scalar program
there. An operation, function or loss without a port is refused at compile time with one line
naming what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from symbackprop.derivation.matrix_derivation import derive_layers
from symbackprop.model.errors import SymbackpropError, unknown_name
from symbackprop.model.network import Network
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.validate import require_network
from symbackprop.numeric.array_runner import ArrayRunner
from symbackprop.numeric.array_scalar import ScalarArrayRunner


def _torch_namespace() -> Any:
    from symbackprop.numeric.torch_backend import TorchNamespace

    return TorchNamespace()


def _jax_namespace() -> Any:
    from symbackprop.numeric.jax_backend import JaxNamespace

    return JaxNamespace()


NAMESPACES: dict[str, Callable[[], Any]] = {"torch": _torch_namespace, "jax": _jax_namespace}
BACKENDS = ("numpy", *NAMESPACES)


def check_backend(backend: object) -> str:
    """Return a known backend's name; refuse any other, suggesting the closest."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise unknown_name("backend", cast(str, backend), BACKENDS)
    return backend


class ArrayBackend:
    """A compiled network's backend on an array library: the generated code's runner.

    ``view`` is "matrix" (a network of layers' matrix code) or "scalar" (a per-neuron
    network's scalar program).
    """

    def __init__(self, runner: ArrayRunner | ScalarArrayRunner, view: str) -> None:
        self.runner = runner
        self.view = view
        self.name = runner.xp.name

    def forward(self, params: dict[str, Any], X: Any) -> Any:
        return self.runner.forward(params, X)

    def loss(self, params: dict[str, Any], X: Any, Y: Any) -> float:
        return self.runner.loss(params, X, Y)

    def loss_and_gradient(self, params: dict[str, Any], X: Any, Y: Any) -> tuple[float, dict]:
        return self.runner.loss_and_gradient(params, X, Y)

    def kink_arguments(self, params: dict[str, Any], X: Any) -> dict[str, Any]:
        return self.runner.kink_arguments(params, X)


def array_backend(network: Network | LayerNetwork, view: str, backend: str) -> ArrayBackend:
    """Compile a network's derivation to run on ``backend`` ("torch", "jax").

    A network of layers runs its matrix code; a per-neuron network its scalar program (the
    NumPy backend's "layers" view is NumPy code, so it is refused here).
    """
    name = check_backend(backend)
    if isinstance(network, LayerNetwork):
        if view not in ("auto", "matrix"):
            raise SymbackpropError(f"a network of layers compiles its matrix view, not {view!r}")
        return ArrayBackend(ArrayRunner(derive_layers(network), NAMESPACES[name]()), "matrix")
    network = require_network(network, "compile")
    if view not in ("auto", "scalar"):
        raise SymbackpropError(
            f"backend {name!r} runs a per-neuron network's scalar program, not the {view!r} "
            "view; use view='auto' or 'scalar' (or backend='numpy')"
        )
    return ArrayBackend(ScalarArrayRunner(network, NAMESPACES[name]()), "scalar")
