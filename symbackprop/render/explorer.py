"""explore(): one self-contained HTML page in which a student steps through backpropagation.

Rendering layer. The page holds the network's drawing (:mod:`explorer_graph`), the steps of
its derivation as Unicode text with the names of their rules, and two functions generated from
the derivation (:mod:`explorer_code`) that compute every number it shows. Its script and
style are inline: the page needs no network and works from ``file://``. The template
``explorer.html.j2`` lays the data out; the page's own script only wires the controls (stepper,
edits, update, repeat, finite differences) to the generated functions.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from markupsafe import Markup

from symbackprop.derivation.derivation import Derivation
from symbackprop.derivation.derive import derive
from symbackprop.derivation.matrix_expand import per_element
from symbackprop.derivation.steps import LOSS, Stage, Step
from symbackprop.model import notation
from symbackprop.model.errors import ShapeError, SpecError, SymbackpropError, SymbackpropWarning
from symbackprop.model.network import Network
from symbackprop.model.optimizers import STEP_NUMBER, Optimizer, get_optimizer
from symbackprop.model.printing import TextPrinter
from symbackprop.model.sequential import LayerNetwork
from symbackprop.model.specs.spec import Spec
from symbackprop.model.validate import data_arrays, params_by_name
from symbackprop.render.explorer_code import explorer_code, factor_key, path_key
from symbackprop.render.explorer_graph import Owner, layout, path_owners
from symbackprop.render.files import atomic_write
from symbackprop.render.templating import template_environment
from symbackprop.render.text import rule_words

MAX_PARAMETERS = 2000  # the page computes every step of every sample in JavaScript
MAX_SAMPLES = 1000
STAGE_TITLES = {
    Stage.FORWARD: "forward",
    Stage.LOSS: "loss",
    Stage.ADJOINT: "backward",
    Stage.GRADIENT: "gradient",
}
# Layers whose output for one sample depends on the others (batch statistics, attention over
# the columns) or on random masks: the page runs one sample at a time, so it cannot show them
# as the batch computes them.
SAMPLE_COUPLED = ("batch_norm", "dropout", "self_attention")


class _MarkedPrinter(TextPrinter):
    """Unicode text with each name marked \\0name\\0, for the page to put its number in."""

    def _print_Symbol(self, expr: sp.Symbol) -> str:  # noqa: N802 (SymPy's printer protocol)
        return f"\0{expr.name}\0"


def _text(expr: sp.Basic) -> str:
    return str(TextPrinter().doprint(expr))


def _tokens(expr: sp.Basic) -> list[str]:
    """Return the expression's text split at its names: text, name, text, name, ..."""
    return str(_MarkedPrinter().doprint(expr)).split("\0")


def _product_text(factors: tuple[sp.Expr, ...]) -> str:
    """Print factors joined by a dot, a sum in parentheses (as the text derivation does)."""
    return " · ".join(f"({_text(f)})" if f.is_Add else _text(f) for f in factors)


def _step_data(step: Step, owners: dict[str, Owner]) -> dict[str, Any]:
    name = step.lhs.name
    data: dict[str, Any] = {
        "name": name,
        "stage": STAGE_TITLES[step.stage],
        "lhs": notation.unicode_name(name),
        "node": (step.node or step.lhs).name,
        "rules": rule_words(step.rules),
        "chain": _text(step.chain) if step.chain is not None else "",
        "symbolic": _product_text(step.factors) if step.factors else _text(step.rhs),
        "numbers": _tokens(step.rhs),
        "factors": [],
        "paths": [],
    }
    if len(step.factors) > 1:
        data["factors"] = [factor_key(name, i) for i in range(len(step.factors))]
        data["factor_texts"] = [_product_text((f,)) for f in step.factors]
    for i, path in enumerate(step.paths):
        data["paths"].append(
            {
                "via": notation.unicode_name(path.via.name),
                "up_text": _text(path.adjoint),
                "local_text": _text(path.local),
                "up": path_key(name, i, "up"),
                "local": path_key(name, i, "local"),
                "term": path_key(name, i, "term"),
                "target": path.via.name,
            }
        )
    for owned, owner in owners.items():
        if owner.step is step and owned != data["node"]:
            data["also"] = owned
            data["also_label"] = notation.unicode_name(owned)
    return data


def _check_size(network: Network, samples: int) -> None:
    count = len(network.program.params)
    if count > MAX_PARAMETERS:
        raise ShapeError(
            f"the network has {count} parameters but the explorer runs at most "
            f"{MAX_PARAMETERS} in the page; explore a smaller network, or use `symbackprop "
            "report` for this one"
        )
    if samples > MAX_SAMPLES:
        raise ShapeError(
            f"the data has {samples} samples but the explorer keeps at most {MAX_SAMPLES}; "
            "give fewer rows"
        )


def _samples(network: Network, data: tuple[Any, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    program = network.program
    if data is None:
        return np.zeros((1, len(program.inputs))), np.zeros((1, len(program.targets)))
    X, Y = data
    if Y is None or np.size(Y) == 0:
        Y = np.zeros((np.atleast_2d(np.asarray(X, dtype=float)).shape[0], len(program.targets)))
    return data_arrays(network, X, Y)


def _labelled(symbols: Iterable[sp.Symbol], frozen: set[str]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "label": notation.unicode_name(s.name), "frozen": s.name in frozen}
        for s in symbols
    ]


def explorer_model(
    network: Network,
    params: Mapping[str, Any],
    data: tuple[Any, Any] | None,
    *,
    learning_rate: float = 0.5,
    freeze: Iterable[str] = (),
    optimizer: str | Optimizer = "sgd",
    title: str | None = None,
    description: str = "",
    sample: int = 1,
) -> dict[str, Any]:
    """Return everything the page needs as plain data, and its generated code."""
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate)):
        raise SpecError(f"learning_rate {learning_rate!r} is not a finite number; give e.g. 0.5")
    X, Y = _samples(network, data)
    _check_size(network, X.shape[0])
    if not 1 <= sample <= X.shape[0]:
        raise ShapeError(f"sample {sample} is not in the data; choose 1 to {X.shape[0]}")
    d: Derivation = derive(network, freeze=freeze, optimizer=optimizer)
    code = explorer_code(d)
    owners = path_owners(d)
    program = network.program
    chosen = get_optimizer(optimizer)
    state = {s.name: 0.0 for p in program.params for s in chosen.state_symbols(p.name)[0].values()}
    values = {k: float(v) for k, v in params_by_name(network, params).items()}
    frozen = set(freeze)
    steps = [s for s in d.steps if s.stage in STAGE_TITLES]
    return {
        "title": title or "Backpropagation, step by step",
        "description": description or network.describe(),
        "inputs": _labelled(program.inputs, frozen),
        "targets": _labelled(program.targets, frozen),
        "params": _labelled(program.params, frozen),
        "values": values,
        "X": X.tolist(),
        "Y": Y.tolist(),
        "sample": sample - 1,
        "learning_rate": float(learning_rate),
        "learning_rate_name": notation.LEARNING_RATE,
        "optimizer": chosen.name,
        "settings": chosen.hyperparameters(),
        "state": state,
        "step_number": STEP_NUMBER.name if chosen.state else "",
        "updated": [list(pair) for pair in code.updated],
        "steps": [_step_data(s, owners) for s in steps],
        "graph": layout(d, owners),
        "gradients": {s.node.name: s.lhs.name for s in d.stage(Stage.GRADIENT) if s.node},
        "blame": {name: owner.step.lhs.name for name, owner in owners.items()},
        "loss": LOSS.name,
        "_code": code,
    }


def render_explorer(model: dict[str, Any]) -> str:
    """Render the page: the model as JSON, the generated functions as script."""
    model = dict(model)
    code = model.pop("_code")
    payload = json.dumps(model, ensure_ascii=False, allow_nan=False)
    template = template_environment("html").get_template("explorer.html.j2")
    return template.render(
        title=model["title"],
        description=model["description"],
        model_json=Markup(_script_safe(payload)),
        generated=Markup(_script_safe(f"{code.compute}\n{code.update}")),
        graph=model["graph"],
    )


def _script_safe(text: str) -> str:
    # Inside <script>, only "</" can end the element early; JSON and JS read "<\/" alike.
    return text.replace("</", "<\\/")


def _layer_kinds(layers: Iterable[Any]) -> list[str]:
    kinds = []
    for layer in layers:
        kinds.append(str(getattr(layer, "kind", "")))
        kinds += _layer_kinds(getattr(layer, "layers", ()))
    return kinds


def _per_element(
    net: LayerNetwork,
    params: Mapping[str, Any],
    data: tuple[Any, Any] | None,
    freeze: Iterable[str],
) -> tuple[Network, dict[str, float], tuple[Any, Any] | None, list[str]]:
    """Return a network of layers as its per-element program for one sample.

    Its parameters become their entries (w1_2_1 of state_dict's "0.weight"), the data one
    flattened row per sample, and a frozen array every entry of it.
    """
    coupled = sorted(set(_layer_kinds(net.layers)) & set(SAMPLE_COUPLED))
    if coupled:
        raise SymbackpropError(
            f"the explorer runs one sample at a time, so it cannot show {', '.join(coupled)} "
            "(a layer that mixes the samples or draws random masks); it shows MLPs, scalar "
            "programs and networks of layers without them: use `symbackprop report` for this one"
        )
    with warnings.catch_warnings():
        # entries that reach no loss (a pooled-away input's weight) get 0: shown, not warned
        warnings.simplefilter("ignore", SymbackpropWarning)
        try:
            view = per_element(net, 1)
        except SymbackpropError as error:
            raise SymbackpropError(
                f"the explorer shows a network of layers entry by entry: {error}"
            ) from None
    frozen = set(freeze)
    names = [
        str(symbol)
        for parameter in net.program.parameters
        if parameter.state_name in frozen
        for symbol in view.entries[str(parameter.symbol.name)]
    ]
    if data is not None:
        X, Y = (np.asarray(a, dtype=np.float64) for a in data)
        data = (X.reshape(X.shape[0], -1), Y.reshape(Y.shape[0], -1))
    return view.network, view.params(params), data, names


def explore(
    network: Network | Spec,
    params: Mapping[str, Any] | None = None,
    data: tuple[Any, Any] | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    learning_rate: float | None = None,
    freeze: Iterable[str] | None = None,
    optimizer: str | Optimizer | None = None,
    title: str | None = None,
    sample: int = 1,
) -> str:
    """Write (when ``path`` is given) and return the explorer page of a network or a spec.

    A spec gives its network, parameters, data and training settings; arguments given here
    override them. ``sample`` (1-based) is the data row the stepper starts on.
    """
    description = ""
    if isinstance(network, Spec):
        spec = network
        params = spec.params if params is None else params
        data = spec.data if data is None else data
        learning_rate = spec.training.learning_rate if learning_rate is None else learning_rate
        freeze = spec.training.freeze if freeze is None else freeze
        optimizer = spec.training.optimizer if optimizer is None else optimizer
        title = title or f"{spec.name}: backpropagation, step by step"
        description = spec.description
        net = spec.network
    else:
        net = network
    params = net.init_params(seed=0) if params is None else params
    if isinstance(net, LayerNetwork):
        net, params, data, freeze = _per_element(net, params, data, freeze or ())
        description = description or "a network of layers, shown entry by entry for one sample"
    model = explorer_model(
        net,
        params,
        data,
        learning_rate=0.5 if learning_rate is None else learning_rate,
        freeze=freeze or (),
        optimizer=optimizer or "sgd",
        title=title,
        description=description,
        sample=sample,
    )
    page = render_explorer(model)
    if path is not None:
        atomic_write(Path(path), page)
    return page
