"""Worksheet generation cost: the known-mistake catalogue is built once per network, in one pass."""

from __future__ import annotations

import dataclasses

import pytest

import symbackprop.worksheets.known_mistakes as known_module
from symbackprop.checks.mistakes import MISTAKES
from symbackprop.model.network import mlp
from symbackprop.worksheets.generate import worksheet

BLANKS = (("gradient", "w1_1_1"), ("delta", "delta1_1"), ("delta", "delta2_1"))


class _CountingCatalogue:
    """The checker's catalogue with every entry's detect counted."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.entries = {m.name: dataclasses.replace(m, detect=self._counted(m)) for m in
                        MISTAKES.values()}  # fmt: skip

    def _counted(self, mistake):
        def detect(context):
            self.calls[mistake.name] = self.calls.get(mistake.name, 0) + 1
            return mistake.detect(context)

        return detect

    def values(self):
        return self.entries.values()

    def get(self, name):
        return self.entries.get(name)


@pytest.fixture
def catalogue(monkeypatch):
    counting = _CountingCatalogue()
    monkeypatch.setattr(known_module, "MISTAKES", counting)
    known_module.known_mistakes.cache_clear()
    known_module.mistake_function.cache_clear()
    yield counting
    known_module.known_mistakes.cache_clear()
    known_module.mistake_function.cache_clear()


def test_each_catalogue_entry_is_asked_once_per_blank(catalogue):
    network = mlp([2, 2, 1], ["tanh", "sigmoid"], "half_sse")
    for kind, of in BLANKS:
        assert known_module.known_mistakes(network, kind, of, 0.5)
    extra = {"constant_factor": 2}  # asked again with the user's gradient doubled and halved
    for name, count in catalogue.calls.items():
        assert count == len(BLANKS) * (1 + extra.get(name, 0)), (name, count)


def test_a_class_builds_one_catalogue_per_network_and_blank(catalogue):
    sheet = worksheet(
        {"worksheet": {"id": "w"}, "network": {"sizes": [[2, 2, 1]], "activations": ["tanh"]},
         "values": {"weights": [-1, 1, 0.1], "biases": [-0.5, 0.5, 0.1],
                    "inputs": [-1, 1, 0.1], "targets": [0, 1, 0.1]},
         "questions": [{"kind": k, "of": o} for k, o in BLANKS]},
        [f"s{i}" for i in range(12)], "salt",
    )  # fmt: skip
    assert len(sheet.variants) == 12
    info = known_module.known_mistakes.cache_info()
    assert info.misses == len(BLANKS)
    assert catalogue.calls["wrong_activation_derivative"] == len(BLANKS)
