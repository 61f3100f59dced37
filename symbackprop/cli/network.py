"""The command line's verbs on one network spec: demo, derive, gradcheck, train, check, report.

Command line. :func:`add_commands` adds the verbs to the `symbackprop` parser; each verb's
function returns the exit status (0 success; 1 a check that ran and failed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from symbackprop.model import notation
from symbackprop.model.errors import SpecError, counted, shorten

if TYPE_CHECKING:
    from symbackprop.derivation.derivation import Derivation
    from symbackprop.model.optimizers import Optimizer
    from symbackprop.model.sequential import LayerNetwork
    from symbackprop.model.specs.spec import Spec
    from symbackprop.numeric.train import TrainResult

# The engine (SymPy, NumPy) is imported inside each verb, so that building the parser -- all that
# `symbackprop --help` and `--version` do -- loads none of it.

# Mazur's worked example with per-neuron biases (b^(1) = 0.35, b^(2) = 0.60 in every neuron),
# so that every delta equals the published one.
DEMO_PARAMS = {
    "w1_1_1": 0.15, "w1_1_2": 0.20, "w1_2_1": 0.25, "w1_2_2": 0.30, "b1_1": 0.35, "b1_2": 0.35,
    "w2_1_1": 0.40, "w2_1_2": 0.45, "w2_2_1": 0.50, "w2_2_2": 0.55, "b2_1": 0.60, "b2_2": 0.60,
}  # fmt: skip
DEMO_X = (0.05, 0.10)
DEMO_Y = (0.01, 0.99)
DEMO_LEARNING_RATE = 0.5
FORMATS = ("text", "md", "tex", "json")
PROGRESS_WIDTH = 30  # characters of the progress bar
PRINT_PARAMS_UP_TO = 24  # train prints the final parameters of networks this small


def _demo(args: argparse.Namespace) -> int:
    from symbackprop.checks.gradcheck import gradcheck
    from symbackprop.derivation.derive import derive
    from symbackprop.model.network import mlp

    network = mlp([2, 2, 2], activation="sigmoid", loss="half_sse")
    derivation = derive(network)
    evaluation = derivation.evaluate(DEMO_PARAMS, DEMO_X, DEMO_Y, DEMO_LEARNING_RATE)
    sys.stdout.write(f"Network 2-2-2 · η = {DEMO_LEARNING_RATE} · x = {DEMO_X} · y = {DEMO_Y}\n")
    sys.stdout.write(derivation.to_text(evaluation))
    check = gradcheck(network, DEMO_PARAMS, DEMO_X, DEMO_Y)
    verdict = "agrees" if check.ok else "DISAGREES"
    sys.stdout.write(
        f"\nCheck: every ∂L/∂θ above {verdict} with central differences "
        f"(largest relative error {check.max_rel_error:.1e})\n"
    )
    return 0


# --- derive ---------------------------------------------------------------------------------------
def _derive(args: argparse.Namespace) -> int:
    from symbackprop.derivation.derive import derive
    from symbackprop.model.sequential import LayerNetwork
    from symbackprop.model.specs.spec import load_spec

    spec = load_spec(args.spec)
    if isinstance(spec.network, LayerNetwork):
        return _derive_layers(args, spec, spec.network)
    optimizer = _chosen_optimizer(spec, args.optimizer)
    derivation = derive(spec.network, freeze=spec.training.freeze, optimizer=optimizer)
    evaluation = None
    if spec.data is not None and not args.symbolic:
        x, y = _sample(spec, args.sample or 1)
        evaluation = derivation.evaluate(spec.params, x, y, spec.training.learning_rate)
    if args.format == "json":
        text = json.dumps(_derivation_json(spec, derivation, evaluation), indent=2) + "\n"
    else:
        text = _rendered(derivation, evaluation, args.format)
    _emit(text, args.output)
    return 0


def _derive_layers(args: argparse.Namespace, spec: Spec, network: LayerNetwork) -> int:
    """The matrix derivation of a network of layers, on the whole batch (or one --sample)."""
    from symbackprop.derivation.derive import derive

    if args.per_element:
        return _derive_per_element(args, spec, network)
    derivation = derive(network, freeze=spec.training.freeze)
    evaluation = None
    if spec.data is not None and not args.symbolic:
        X, Y = spec.data if args.sample is None else _sample(spec, args.sample)
        evaluation = derivation.evaluate(spec.params, X, Y, spec.training.learning_rate)
    if args.format == "json":
        text = json.dumps(_matrix_json(spec, derivation, evaluation), indent=2) + "\n"
    else:
        text = _rendered(derivation, evaluation, args.format)
    _emit(text, args.output)
    return 0


def _rendered(derivation: Any, evaluation: Any, fmt: str) -> str:
    """Return a derivation (per-neuron or matrix) as Markdown, LaTeX or terminal text."""
    if fmt == "md":
        return str(derivation.to_markdown(evaluation))
    if fmt == "tex":
        return str(derivation.to_latex(evaluation))
    return str(derivation.to_text(evaluation))


# Both views compute the same numbers in another order: float64 rounding, nothing more.
_VIEWS_AGREE = 1e-9


def _derive_per_element(args: argparse.Namespace, spec: Spec, network: LayerNetwork) -> int:
    """The batch written out entry by entry and derived per neuron, checked against the matrices."""
    import numpy as np

    from symbackprop.derivation.derive import derive
    from symbackprop.derivation.matrix_expand import per_element

    if args.format == "json":
        raise SpecError("--per-element prints text, Markdown or LaTeX; drop --format json")
    data = spec.data if args.sample is None or spec.data is None else _sample(spec, args.sample)
    batch = 1 if data is None else np.atleast_2d(data[0]).shape[0]
    view = per_element(network, batch)
    evaluation, note = None, ""
    if data is not None and not args.symbolic:
        x, y = view.data(*data)
        scalar = view.params(spec.params)
        evaluation = view.derivation.evaluate(scalar, x[0], y[0], spec.training.learning_rate)
        matrix = derive(network).evaluate(spec.params, *data)
        gradients = view.gradient_arrays(evaluation.gradients())
        gap = max(float(np.max(np.abs(gradients[p.state_name] - np.reshape(
            matrix[notation.gradient_name(str(p.symbol.name))], p.state_shape))))
            for p in network.program.parameters)  # fmt: skip
        verdict = "equal" if gap <= _VIEWS_AGREE else "DIFFER FROM"
        note = (f"\nThe per-element gradients {verdict} the matrix derivation's (largest "
                f"difference {gap:.1e}).\n")  # fmt: skip
    _emit(_rendered(view.derivation, evaluation, args.format) + note, args.output)
    return 0


def _matrix_json(spec: Spec, derivation: Any, evaluation: Any) -> dict[str, Any]:
    import numpy as np

    steps = []
    for step in derivation.steps:
        shape = step.shape
        value = None
        if evaluation is not None and step.name in evaluation:
            value = np.asarray(evaluation[step.name], dtype=np.float64).tolist()
        steps.append(
            {
                "lhs": step.name,
                "rhs": str(step.rhs),
                "shape": None if shape is None else [str(size) for size in shape],
                "stage": step.stage.value,
                "layer": step.layer,
                "parameter": step.state_name,
                "rules": [rule.name.lower() for rule in step.rules],
                "depends_on": list(step.depends_on),
                "value": value,
            }
        )
    return {
        "spec": spec.path.name,
        "network": spec.network.describe(),
        "parameters": spec.network.parameter_names(),
        "steps": steps,
    }


def _sample(spec: Spec, number: int) -> tuple[Any, Any]:
    assert spec.data is not None
    X, Y = spec.data
    if not 1 <= number <= X.shape[0]:
        raise SpecError(
            f"--sample {number} is out of range; {spec.path.name} has samples 1 to {X.shape[0]}"
        )
    return X[number - 1], Y[number - 1]


def _derivation_json(spec: Spec, derivation: Derivation, evaluation: Any) -> dict[str, Any]:
    steps = []
    for step in derivation.steps:
        value = None
        if evaluation is not None and step.lhs.name in evaluation:
            value = _number(evaluation[step.lhs.name])
        steps.append(
            {
                "lhs": step.lhs.name,
                "rhs": str(step.rhs),
                "stage": step.stage.value,
                "layer": step.layer,
                "rules": [rule.name.lower() for rule in step.rules],
                "depends_on": [symbol.name for symbol in step.depends_on],
                "value": value,
            }
        )
    return {
        "spec": spec.path.name,
        "network": spec.network.describe(),
        "parameters": spec.network.parameter_names(),
        "frozen": list(derivation.frozen),
        "steps": steps,
    }


def _number(value: Any) -> float | list[float] | None:
    import numpy as np

    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else [float(v) for v in array.reshape(-1)]


# --- gradcheck -----------------------------------------------------------------------------------
def _gradcheck(args: argparse.Namespace) -> int:
    from symbackprop.checks.gradcheck import gradcheck
    from symbackprop.model.specs.spec import load_spec

    spec = load_spec(args.spec)
    X, Y = _data(spec, "gradcheck")
    result = gradcheck(spec.network, spec.params, X, Y)
    width = max([len("parameter")] + [len(row.name) for row in result.rows])
    lines = [f"{'parameter':<{width}}  {'analytic':>14}  {'numeric':>14}  rel. error  verdict"]
    for row in result.rows:
        lines.append(
            f"{row.name:<{width}}  {row.analytic:>14.8g}  {row.numeric:>14.8g}  "
            f"{row.rel_error:>10.1e}  {row.verdict.name.lower()}"
        )
    sampled = (
        f" (a sample of {len(result.rows)} of {result.n_parameters})" if result.sampled else ""
    )
    if result.ok:
        lines.append(
            f"ok: every gradient{sampled} agrees with central differences over "
            f"{counted(X.shape[0], 'sample')} (largest relative error {result.max_rel_error:.1e})"
        )
    else:
        bad = [row.name for row in result.rows if not row.ok]
        lines.append(
            f"FAILED: {len(bad)} gradient(s) disagree with central differences: "
            f"{', '.join(bad[:8])}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if result.ok else 1


def _data(spec: Spec, verb: str) -> tuple[Any, Any]:
    if spec.data is None:
        raise SpecError(
            f"{spec.path.name} has no [data], which {verb} needs; add [data] X = [[...]] "
            'Y = [[...]] or [data] csv = "file.csv"'
        )
    return spec.data


# --- train ---------------------------------------------------------------------------------------
# numeric/backends.py BACKENDS, written out: --help loads neither NumPy nor the engine.
TRAIN_BACKENDS = ("numpy", "torch", "jax")


def _train(args: argparse.Namespace) -> int:
    import numpy as np

    from symbackprop.model.specs.spec import load_spec
    from symbackprop.model.specs.writer import spec_toml
    from symbackprop.numeric.train import train
    from symbackprop.render.diagrams import learning_curve_plot

    spec = load_spec(args.spec)
    X, Y = _data(spec, "train")
    plot_format = _plot_format(args.plot)
    settings = spec.training
    epochs = settings.epochs if args.epochs is None else args.epochs
    learning_rate = settings.learning_rate if args.learning_rate is None else args.learning_rate
    optimizer = _chosen_optimizer(spec, args.optimizer)
    started = time.monotonic()
    with _progress(epochs, sys.stderr, args.progress) as progress:
        result = train(
            spec.network,
            dict(spec.params),
            X,
            Y,
            learning_rate=learning_rate,
            epochs=epochs,
            batch_size=settings.batch_size,
            freeze=settings.freeze,
            seed=settings.seed,
            progress=progress,
            optimizer=optimizer,
            test=spec.test_data,
            backend=args.backend,
        )
    seconds = time.monotonic() - started
    params = {name: _plain(value) for name, value in result.params.items()}
    outputs: list[tuple[str, str | bytes]] = []
    if args.losses is not None:
        outputs.append((args.losses, _losses_csv(result)))
    if args.plot is not None:
        curve = learning_curve_plot(result.losses, result.test_losses, result.accuracies,
                                    result.test_accuracies, plot_format,
                                    f"{spec.name}: learning curve")  # fmt: skip
        outputs.append((args.plot, curve))
    if args.output is not None:
        outputs.append((args.output, spec_toml(spec, params, args.output)))
    for path, content in outputs:
        _write(path, content)
    batch = f"mini-batches of {settings.batch_size}" if settings.batch_size else "full batch"
    how = "" if optimizer.name == "sgd" else f"{optimizer.name} · "
    how += "" if args.backend == "numpy" else f"{args.backend} · "
    lines = [
        f"{spec.name}: {spec.network.describe()} · {how}η = {learning_rate} · {epochs} epochs · "
        f"{batch}",
        f"loss {result.losses[0]:.6g} -> {result.final_loss:.6g} over "
        f"{counted(X.shape[0], 'sample')}" + (" (training)" if result.test_losses else ""),
    ]
    lines += _test_lines(spec, result)
    if sum(np.size(value) for value in params.values()) <= PRINT_PARAMS_UP_TO:
        lines += [f"  {name} = {_shown(value)}" for name, value in params.items()]
    lines += [f"wrote {path}" for path, _ in outputs]
    lines.append(f"trained in {seconds:.1f} s")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _test_lines(spec: Spec, result: TrainResult) -> list[str]:
    """The held-out loss and the accuracies, where there are any."""
    lines = []
    if result.test_losses and spec.test_data is not None:
        lines.append(
            f"test loss {result.test_losses[0]:.6g} -> {result.test_losses[-1]:.6g} over "
            f"{counted(spec.test_data[0].shape[0], 'held-out sample')}"
        )
    if result.accuracies:
        shown = f"accuracy: training {_percent(result.accuracies[-1])}"
        if result.test_accuracies:
            shown += f", test {_percent(result.test_accuracies[-1])}"
        lines.append(shown)
    return lines


def _percent(share: float) -> str:
    return f"{100 * share:.1f} %"


def _losses_csv(result: TrainResult) -> str:
    """epoch,loss per row, with test_loss, accuracy and test_accuracy where they were recorded."""
    columns = {"loss": result.losses, "test_loss": result.test_losses,
               "accuracy": result.accuracies, "test_accuracy": result.test_accuracies}  # fmt: skip
    kept = {name: values for name, values in columns.items() if values}
    rows = [",".join(["epoch", *kept])]
    for epoch in range(len(result.losses)):
        rows.append(",".join([str(epoch), *(repr(values[epoch]) for values in kept.values())]))
    return "\n".join(rows) + "\n"


def _plot_format(path: str | None) -> str:
    """The --plot file's format from its suffix; checked before any training is done."""
    from symbackprop.render.diagrams import PLOT_FORMATS

    if path is None:
        return ""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise SpecError(
            f"--plot {shorten(path)!r} has no known picture suffix; end it in "
            f"{', '.join('.' + fmt for fmt in PLOT_FORMATS)}, e.g. curve.png"
        )
    return suffix


def _plain(value: Any) -> Any:
    """A trained parameter as a float, or an array (state_dict arrays of a network of layers)."""
    import numpy as np

    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)


def _shown(value: Any) -> str:
    import numpy as np

    if np.ndim(value) == 0:
        return f"{value:.9g}"
    return np.array2string(np.asarray(value), separator=", ", formatter={"float": "{:.9g}".format})


@contextlib.contextmanager
def _progress(
    epochs: int, stream: TextIO, forced: bool | None = None
) -> Iterator[Callable[[int, float], None] | None]:
    """Yield a progress callback drawing a bar on ``stream``, else None.

    The bar is drawn where ``forced`` says, or (None) where ``stream`` is a terminal.
    """
    shown = stream.isatty() if forced is None else forced
    if not shown or epochs == 0:
        yield None
        return
    every = max(1, epochs // 100)
    started = time.monotonic()

    def draw(epoch: int, loss: float) -> None:
        if epoch % every and epoch != epochs:
            return
        done = PROGRESS_WIDTH * epoch // epochs
        bar = "#" * done + "-" * (PROGRESS_WIDTH - done)
        elapsed = time.monotonic() - started
        stream.write(f"\r[{bar}] epoch {epoch}/{epochs} loss {loss:.6g} · {elapsed:.0f} s")
        stream.flush()

    try:
        yield draw
    finally:
        stream.write("\n")
        stream.flush()


# --- check and report (modules written beside this one) ----------------------------------------
def _check(args: argparse.Namespace) -> int:
    from symbackprop.checks.checker import check_gradient
    from symbackprop.model.specs.spec import load_spec

    spec = load_spec(args.spec)
    verdict = check_gradient(spec.network, args.wrt, args.expr, source="--expr")
    text = verdict.to_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0 if verdict.correct else 1


def _report(args: argparse.Namespace) -> int:
    from symbackprop.model.sequential import LayerNetwork
    from symbackprop.model.specs.spec import load_spec
    from symbackprop.render.report import report

    spec = load_spec(args.spec)
    settings = spec.training
    if isinstance(spec.network, LayerNetwork):
        # A network of layers' report shows one step on the spec's batch, with its numbers.
        report(spec.network, params=dict(spec.params), data=_data(spec, "report"),
               path=args.output, learning_rate=settings.learning_rate,
               title=_report_title(spec), sample=args.sample)  # fmt: skip
        sys.stdout.write(f"wrote {args.output}\n")
        return 0
    with _progress(settings.epochs, sys.stderr, args.progress) as progress:
        report(
            spec.network,
            params=dict(spec.params),
            data=_data(spec, "report"),
            path=args.output,
            learning_rate=settings.learning_rate,
            freeze=settings.freeze,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            seed=settings.seed,
            optimizer=_chosen_optimizer(spec, args.optimizer),
            sample=args.sample,
            title=_report_title(spec),
            about_data=_about_data(spec),
            progress=progress,
        )
    sys.stdout.write(f"wrote {args.output}\n")
    return 0


def _report_title(spec: Spec) -> str:
    """The spec's name and description, e.g. "xor: XOR with a 2-3-1 network: ..."."""
    return f"{spec.name}: {spec.description}" if spec.description else spec.name


def _about_data(spec: Spec) -> str:
    """Name the spec's CSV columns, classes and standardisation, for the report's data part."""
    from symbackprop.model.notation import unicode_name

    table = spec.document.get("data", {})
    if not isinstance(table, dict) or "csv" not in table:
        return ""
    said = []
    if isinstance(table.get("inputs"), list):
        columns = [str(column) for column in table["inputs"]]
        last = unicode_name(f"x{len(columns)}")
        said.append(f"The inputs {unicode_name('x1')} … {last} are the columns "
                    f"{', '.join(columns)} of {table['csv']}, in this order.")  # fmt: skip
    if table.get("one_hot") and isinstance(table.get("classes"), list):
        said.append(f"The targets are one-hot: output j is 1 for class j of "
                    f"{', '.join(map(str, table['classes']))}, and 0 otherwise.")  # fmt: skip
    if table.get("standardize"):
        said.append("The inputs were standardised: each column shifted to mean 0 and scaled "
                    "to standard deviation 1 over the data, so the numbers below are not the "
                    "raw measurements.")  # fmt: skip
    return " ".join(said)


def _chosen_optimizer(spec: Spec, name: str | None) -> Optimizer:
    """Return --optimizer (with its default settings) or else the spec's own optimiser."""
    from symbackprop.model.optimizers import get_optimizer

    return spec.training.optimizer if name is None else get_optimizer(name, "(--optimizer)")


def _add_optimizer_option(command: Any, what: str) -> None:
    option = command.add_argument(
        "--optimizer", help=f"override [training] optimizer for {what} (its default settings)"
    )
    # Set after add_argument, which would list the choices at once: argparse reads them only
    # when --optimizer is given or the verb's help is shown, and only then are they imported.
    option.choices = _OptimizerNames()


class _OptimizerNames:
    """The registered optimisers' names (sorted), imported from the registry when first read."""

    def __contains__(self, name: object) -> bool:
        from symbackprop.model.optimizers import OPTIMIZERS

        return name in OPTIMIZERS

    def __iter__(self) -> Iterator[str]:
        from symbackprop.model.optimizers import OPTIMIZERS

        return iter(sorted(OPTIMIZERS))


# --- output ---------------------------------------------------------------------------------------
def _emit(text: str, path: str | None) -> None:
    if path is None:
        sys.stdout.write(text)
    else:
        _write(path, text)
        sys.stdout.write(f"wrote {path}\n")


def _write(path: str, text: str | bytes) -> None:
    """Write a file atomically; a failure is one line naming the file."""
    from symbackprop.render.files import atomic_write

    try:
        atomic_write(path, text)
    except OSError as error:
        raise SpecError(
            f"cannot write {path!r} ({error.strerror or error}); check that its directory "
            "exists and is writable"
        ) from None


def add_commands(commands: Any) -> None:
    """Add demo, derive, gradcheck, train, check and report to the parser's sub-commands."""
    demo = commands.add_parser(
        "demo",
        help="print the full derivation of a 2-2-2 sigmoid network with the numbers",
        description="Print the full derivation of Mazur's 2-2-2 sigmoid network, numbers "
        "plugged in: forward pass, loss, every delta, every gradient, one update step.",
        epilog="example: symbackprop demo",
    )
    demo.set_defaults(run=_demo)
    _add_derive(commands)
    _add_gradcheck(commands)
    _add_train(commands)
    _add_check(commands)
    _add_report(commands)


def _wrapped(text: str) -> str:
    """Wrap each paragraph to the terminal's width (the raw formatter keeps line breaks only)."""
    width = min(shutil.get_terminal_size().columns, 100) - 2
    return "\n\n".join(textwrap.fill(p, width) for p in text.split("\n\n"))


def _command(commands: Any, name: str, help_text: str, description: str, example: str) -> Any:
    command = commands.add_parser(
        name,
        help=help_text,
        description=_wrapped(description),
        epilog=f"example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("spec", metavar="SPEC", help="a TOML network spec (see examples/)")
    return command


def _add_derive(commands: Any) -> None:
    derive_ = _command(
        commands,
        "derive",
        "print the step-by-step derivation of a spec's network",
        "Print every step of backpropagation through the spec's network: forward pass, "
        "loss, each delta / adjoint, each gradient, the update. With [data], the numbers of "
        "one sample (the first unless --sample) are plugged in; a network of layers is "
        "derived in matrix form on the whole batch (or on the one --sample).",
        "symbackprop derive examples/mazur.toml --format md -o mazur.md",
    )
    derive_.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), md (Markdown), tex (LaTeX) or json",
    )
    derive_.add_argument(
        "--sample",
        type=int,
        default=None,
        help="which data row to plug in (1 = the first row, the default; a network of layers "
        "takes the whole batch unless given)",
    )
    derive_.add_argument("--symbolic", action="store_true", help="leave the numbers out")
    derive_.add_argument(
        "--per-element",
        action="store_true",
        help="a network of layers: write the (tiny) batch out entry by entry and derive it "
        "neuron by neuron, and say whether that agrees with the matrix derivation",
    )
    _add_optimizer_option(derive_, "the update stage")
    derive_.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")
    derive_.set_defaults(run=_derive)


def _add_gradcheck(commands: Any) -> None:
    gradcheck_ = _command(
        commands,
        "gradcheck",
        "compare every gradient with central finite differences",
        "Compare each analytic dL/dθ at the spec's parameters and data with central finite "
        "differences. Exit status 1 if any gradient disagrees.",
        "symbackprop gradcheck examples/xor.toml",
    )
    gradcheck_.set_defaults(run=_gradcheck)


def _add_train(commands: Any) -> None:
    train_ = _command(
        commands,
        "train",
        "run gradient descent on the spec's data",
        "Run gradient descent with the spec's [training] settings; a progress bar is drawn "
        "on stderr when it is a terminal. With [data] test_fraction the held-out rows are "
        "never trained on: their loss is reported beside the training loss, and with one-hot "
        "targets the accuracy on both.",
        "symbackprop train examples/digits.toml --plot digits-curve.png",
    )
    train_.add_argument("--epochs", type=int, help="override [training] epochs")
    train_.add_argument("--learning-rate", type=float, help="override [training] learning_rate")
    train_.add_argument(
        "--losses",
        metavar="FILE.csv",
        help="write the loss of every epoch (and test loss and accuracies, where recorded)",
    )
    train_.add_argument(
        "--plot",
        metavar="FILE.png",
        help="draw the learning curve: loss (and accuracy) per epoch, training and test "
        "(.png, .svg or .pdf)",
    )
    train_.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw the progress bar on stderr (default: only when stderr is a terminal)",
    )
    _add_optimizer_option(train_, "training")
    train_.add_argument(
        "--backend",
        choices=TRAIN_BACKENDS,
        default="numpy",
        help="compute every loss and gradient with NumPy (default), PyTorch or JAX; torch and "
        "jax run the same generated code, on a GPU where one is present "
        "(pip install -e '.[torch]' or '.[jax]'); the optimiser's step stays NumPy's",
    )
    train_.add_argument(
        "-o",
        "--output",
        metavar="FILE.toml",
        help="write the trained parameters as a spec that loads back",
    )
    train_.set_defaults(run=_train)


def _add_check(commands: Any) -> None:
    check = _command(
        commands,
        "check",
        "check a hand-derived gradient against the derivation",
        "Check a hand-derived formula for dL/d(NAME). Exit status 0 if it is correct, 1 if "
        "it is wrong (with a diagnosis), 2 if the input is bad.",
        "symbackprop check examples/mazur.toml --wrt w2_1_1 --expr 'delta2_1*a1_1'",
    )
    check.add_argument("--wrt", required=True, metavar="NAME", help="the parameter")
    check.add_argument("--expr", required=True, metavar="TEXT", help="your formula for dL/dNAME")
    check.set_defaults(run=_check)


def _add_report(commands: Any) -> None:
    report_ = _command(
        commands,
        "report",
        "write a report of the derivation (HTML, LaTeX, PDF or Markdown)",
        "Write a report of the spec's network; the format follows FILE's suffix "
        "(.html, .tex, .pdf, .md).",
        "symbackprop report examples/mazur.toml -o mazur.html",
    )
    report_.add_argument("-o", "--output", required=True, metavar="FILE", help="the report file")
    report_.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="work through sample N of the data, counting from 1 (default: the most "
        "informative one: fewest zero gradients, then the largest gradient norm)",
    )
    report_.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar of the training on stderr (default: only when stderr is a "
        "terminal)",
    )
    _add_optimizer_option(report_, "the update stage and the training")
    report_.set_defaults(run=_report)
