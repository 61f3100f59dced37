"""The digits data set ships intact; [data] test_fraction splits rows deterministically."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from symbackprop.cli import main as cli
from symbackprop.model.errors import SpecError
from symbackprop.model.inputs import read_input_text
from symbackprop.model.specs.data import split_rows
from symbackprop.model.specs.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS_CSV = EXAMPLES / "digits.csv.gz"
# sha256 of the decompressed text of examples/digits.csv.gz (header row + 1797 rows).
DIGITS_TEXT_SHA256 = "592cc047d0a1cc7fdef9fd724514209dcb45a80aa147dc3ab375e3e1a9a380f4"
DIGITS_ROWS = 1797
# Images of each digit 0..9 in the UCI optdigits test set.
DIGITS_PER_CLASS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
CLASSES = '["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'


def _digits_spec(tmp_path: Path, data: str = "", network: str = "inputs = 64") -> Path:
    layers = (
        '["flatten", {dense = 10}, "softmax"]' if "[" in network else '[{dense = 10}, "softmax"]'
    )
    spec = tmp_path / "digits.toml"
    spec.write_text(
        f"[network]\n{network}\nlayers = {layers}\n[init]\nseed = 0\n"
        f'[data]\ncsv = "{DIGITS_CSV.as_posix()}"\ntargets = ["digit"]\none_hot = true\n'
        f"classes = {CLASSES}\n{data}"
    )
    return spec


def test_the_digits_file_is_the_one_shipped():
    text = gzip.decompress(DIGITS_CSV.read_bytes())
    assert hashlib.sha256(text).hexdigest() == DIGITS_TEXT_SHA256
    header = text.decode().splitlines()[0].split(",")
    assert header[:2] == ["pixel_0_0", "pixel_0_1"] and header[-2:] == ["pixel_7_7", "digit"]


def test_digits_load_as_1797_images_of_64_pixels_with_labels_0_to_9(tmp_path):
    spec = load_spec(_digits_spec(tmp_path))
    assert spec.data is not None and spec.test_data is None
    X, Y = spec.data
    assert X.shape == (DIGITS_ROWS, 64) and Y.shape == (DIGITS_ROWS, 10)
    assert X.min() == 0 and X.max() == 16 and np.array_equal(X, np.round(X))
    assert np.all(Y.sum(axis=1) == 1)
    assert Y.sum(axis=0).tolist() == DIGITS_PER_CLASS


def test_an_image_spec_reads_the_same_columns_as_one_1x8x8_image_per_row(tmp_path):
    flat = load_spec(_digits_spec(tmp_path))
    image = load_spec(_digits_spec(tmp_path, network="inputs = [1, 8, 8]"))
    assert flat.data is not None and image.data is not None
    assert image.network.sample_shape == (1, 8, 8)
    assert np.array_equal(image.data[0], flat.data[0])
    rows = gzip.decompress(DIGITS_CSV.read_bytes()).decode().splitlines()
    header, first = rows[0].split(","), rows[1].split(",")
    picture = image.data[0][0].reshape(1, 8, 8)  # C order: the network's own flattening
    for r in range(8):
        for c in range(8):
            assert picture[0, r, c] == float(first[header.index(f"pixel_{r}_{c}")]), (r, c)


def test_split_rows_is_deterministic_disjoint_and_complete():
    train, test = split_rows(DIGITS_ROWS, 0.2, seed=0)
    again_train, again_test = split_rows(DIGITS_ROWS, 0.2, seed=0)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert len(test) == round(0.2 * DIGITS_ROWS) and len(train) == DIGITS_ROWS - len(test)
    assert not set(train) & set(test)
    assert sorted([*train, *test]) == list(range(DIGITS_ROWS))
    assert not np.array_equal(split_rows(DIGITS_ROWS, 0.2, seed=1)[1], test)


def test_a_spec_holds_out_the_rows_its_seed_draws(tmp_path):
    whole = load_spec(_digits_spec(tmp_path))
    split = load_spec(_digits_spec(tmp_path, "test_fraction = 0.2\nseed = 3\n"))
    assert whole.data is not None and split.data is not None and split.test_data is not None
    train, test = split_rows(DIGITS_ROWS, 0.2, seed=3)
    assert np.array_equal(split.data[0], whole.data[0][train])
    assert np.array_equal(split.test_data[0], whole.data[0][test])
    assert np.array_equal(split.test_data[1], whole.data[1][test])


def test_standardize_uses_the_training_rows_statistics_only(tmp_path):
    spec = load_spec(_digits_spec(tmp_path, "test_fraction = 0.2\nstandardize = true\n"))
    assert spec.data is not None and spec.test_data is not None
    X_train, X_test = spec.data[0], spec.test_data[0]
    varying = X_train.std(axis=0) > 0
    assert np.allclose(X_train.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(X_train.std(axis=0)[varying], 1)
    assert not np.allclose(X_test.mean(axis=0), 0, atol=1e-3)  # the test rows were not used


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("test_fractoin = 0.2\n", "did you mean 'test_fraction'"),
        ("test_fraction = 1.5\n", "test_fraction 1.5 is not in [0, 1)"),
        ("test_fraction = -0.1\n", "test_fraction -0.1 is not in [0, 1)"),
        ('test_fraction = "a fifth"\n', "test_fraction is a string"),
        ("test_fraction = 0.0001\n", "leaves 1797 to train on and 0 to test"),
        ("seed = 1\n", "there is no test_fraction; add test_fraction = 0.2 or remove seed"),
        ("test_fraction = 0.2\nseed = -1\n", "seed -1 is negative"),
        ("test_fraction = 0.2\nsed = 1\n", "did you mean 'seed'"),
    ],
)
def test_bad_split_keys_are_one_line_and_exit_2(tmp_path, capsys, data, expected):
    status = cli.main(["train", str(_digits_spec(tmp_path, data))])
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("symbackprop: error: digits.toml:"), err
    assert expected in err


def test_unnamed_inputs_must_match_the_network(tmp_path, capsys):
    assert cli.main(["train", str(_digits_spec(tmp_path, network="inputs = 63"))]) == 2
    err = capsys.readouterr().err
    assert "the 64 columns besides the targets are the inputs, but the network has 63" in err


def test_a_gzip_file_is_held_to_the_size_limit_after_decompression(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"0," * 5_000))
    assert len(read_input_text(bomb, "the CSV file", SpecError, 10_000, gzipped=True)) == 10_000
    with pytest.raises(SpecError, match="decompresses to more than the limit of 9,999 bytes"):
        read_input_text(bomb, "the CSV file", SpecError, 9_999, gzipped=True)


def test_a_broken_gzip_file_is_one_line(tmp_path):
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(b"a,b\n1,2\n")[:-6])
    with pytest.raises(SpecError, match="is not readable as gzip .*; give a .gz made by gzip"):
        read_input_text(broken, "the CSV file", SpecError, 10_000, gzipped=True)
