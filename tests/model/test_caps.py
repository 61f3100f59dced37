"""Size limits: one bounded reader for every input file, and the caps the API and CLI enforce."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.cli import main as cli
from symbackprop.model.caps import CAPS
from symbackprop.model.errors import SpecError, SymbackpropError
from symbackprop.model.inputs import read_input_text

SAME_TMP_PATH = HealthCheck.function_scoped_fixture
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WEEK5 = EXAMPLES / "worksheets" / "week5.toml"


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status = cli.main(list(argv))
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("symbackprop: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- the bounded reader --------------------------------------------------------------------------
def _oversized(path: Path, limit: int) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(limit + 1)  # sparse: no disk used, read back as zeros
    return path


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    from symbackprop.worksheets.generate import worksheet

    folder = tmp_path_factory.mktemp("sheet")
    worksheet(str(WEEK5), ["ann"], "salt").write(folder, parts=("key",), pdf=False)
    return folder


def _cases(tmp_path: Path, key: Path) -> dict[str, list[str]]:
    """Each kind of input file, as the CLI arguments that read ``tmp_path / "in"``."""
    spec = tmp_path / "s.toml"
    spec.write_text('[network]\nsizes = [1, 1]\n[init]\nseed = 0\n[data]\ncsv = "in"\n'
                    'inputs = ["x"]\ntargets = ["y"]\n', encoding="utf-8")  # fmt: skip
    out = str(tmp_path / "out")
    target = str(tmp_path / "in")
    return {
        "spec": ["derive", target],
        "csv data": ["derive", str(spec)],
        "worksheet spec": [
            "worksheet",
            "generate",
            target,
            "--roster",
            target,
            "--salt",
            "s",
            "-o",
            out,
        ],
        "roster": [
            "worksheet",
            "generate",
            str(WEEK5),
            "--roster",
            target,
            "--salt",
            "s",
            "-o",
            out,
        ],
        "answers": ["grade", str(key), target, "-o", out],
    }


KINDS = ["spec", "csv data", "worksheet spec", "roster", "answers"]


@given(kind=st.sampled_from(KINDS), source=st.sampled_from(["oversized", "/dev/zero", "fifo"]))
@settings(max_examples=30, deadline=None, suppress_health_check=[SAME_TMP_PATH])
def test_every_input_file_is_read_bounded_and_refused_in_one_line(
    tmp_path, capsys, key, kind, source
):
    target = tmp_path / "in"
    if target.exists() or target.is_symlink():
        target.unlink()
    if source == "oversized":
        limit = CAPS.max_data_file_bytes if kind == "csv data" else CAPS.max_text_file_bytes
        _oversized(target, limit)
    elif source == "/dev/zero":
        target.symlink_to("/dev/zero")
    else:
        os.mkfifo(target)  # a reader that read it would block forever
    line = _one_line_exit_2(capsys, *_cases(tmp_path, key)[kind])
    assert "limit of" in line or "not a regular file" in line, line
    assert not (tmp_path / "out").exists()


def test_answers_notebook_over_the_limit_is_refused(tmp_path):
    notebook = _oversized(tmp_path / "big.ipynb", CAPS.max_text_file_bytes)
    with pytest.raises(SymbackpropError, match="larger than the limit of 8 MiB"):
        read_input_text(notebook, "answers")


def test_a_bom_is_allowed_in_a_spec(tmp_path):
    spec = tmp_path / "bom.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "xor.toml").read_bytes())
    assert sb.load_spec(spec).network.describe().startswith("2-3-1 MLP")


# --- caps on networks, epochs, memory ---------------------------------------------------------
def _within_caps(sizes: list[int]) -> bool:
    params = sum(sizes[i] * sizes[i - 1] + sizes[i] for i in range(1, len(sizes)))
    return len(sizes) - 1 <= 64 and max(sizes) <= 100_000 and params <= 1_000_000


sizes_strategy = st.one_of(
    st.lists(st.integers(1, 3), min_size=2, max_size=120),
    st.lists(st.integers(1, 300_000), min_size=2, max_size=4),
)


@given(sizes=sizes_strategy)
@settings(max_examples=60, deadline=None)
def test_mlp_refuses_exactly_the_networks_over_a_cap_naming_the_limit(sizes):
    if _within_caps(sizes):
        assert sb.mlp(sizes).n_inputs == sizes[0]
    else:
        with pytest.raises(SpecError, match="limit") as error:
            sb.mlp(sizes)
        assert "\n" not in str(error.value)


def test_huge_layers_are_refused_before_any_allocation():
    with pytest.raises(SpecError, match=r"wider than the limit of 100,000"):
        sb.mlp([100_000, 100_001])
    with pytest.raises(SpecError, match=r"10,000,100,000 parameters \(limit 1,000,000\)"):
        sb.mlp([100_000, 100_000])
    with pytest.raises(SpecError, match="20000 layers; the limit is 64"):
        sb.mlp([1] * 20_001)


@pytest.mark.parametrize("epochs", [10**9, 10**15])
def test_train_refuses_epochs_over_the_cap_before_training(epochs):
    net = sb.mlp([1, 1])
    with pytest.raises(SpecError, match="limit of 10,000,000"):
        sb.train(net, net.init_params(), [[1.0]], [[0.0]], learning_rate=0.1, epochs=epochs)


def test_cli_epochs_option_cannot_bypass_the_cap(capsys):
    line = _one_line_exit_2(capsys, "train", str(EXAMPLES / "xor.toml"), "--epochs",
                            "1000000000000000")  # fmt: skip
    assert "limit of 10,000,000" in line


def test_estimated_memory_is_checked_with_the_data():
    net = sb.mlp([2, 20_000, 1])
    X = np.zeros((50_000, 2))
    with pytest.raises(SymbackpropError, match=r"MiB \(limit 2,048 MiB\)"):
        sb.compile(net).loss(net.init_params(), X, np.zeros((50_000, 1)))


def test_caps_are_stated_in_one_place():
    assert json.dumps(
        {
            "text": CAPS.max_text_file_bytes,
            "layers": CAPS.max_layers,
            "width": CAPS.max_width,
            "params": CAPS.max_parameters,
            "epochs": CAPS.max_epochs,
        }  # fmt: skip
    ) == json.dumps(
        {
            "text": 8 * 2**20,
            "layers": 64,
            "width": 100_000,
            "params": 1_000_000,
            "epochs": 10_000_000,
        }  # fmt: skip
    )
