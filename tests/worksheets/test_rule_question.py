"""The "which rule" question: one key per step, and exactly one right option on every variant."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop.render.text import RULE_WORDS
from symbackprop.worksheets.spec import load_worksheet_spec
from symbackprop.worksheets.step_program import program_for
from symbackprop.worksheets.variants import GENERIC_RULES, LETTERS, draw_variant

RULE_STEPS = ("delta2_1", "delta1_1", "w1_1_1", "w2_1_1")
SPEC = load_worksheet_spec(
    {
        "worksheet": {"id": "rules"},
        "network": {"sizes": [[2, 2, 2]], "activations": ["sigmoid", "tanh", "relu"],
                    "output_activations": ["softmax"], "losses": ["cross_entropy"]},
        "values": {"weights": [-1.0, 1.0, 0.1], "biases": [0.1, 0.5, 0.1],
                   "inputs": [-1.0, 1.0, 0.1], "targets": [0.0, 1.0, 0.1]},
        "questions": [{"kind": "rule", "of": "delta2_1"}, {"kind": "rule", "of": "delta1_1"},
                      {"kind": "gradient", "of": "w1_1_1"},
                      {"kind": "rule", "of": "dL_dw1_1_1", "id": "rule_w"},
                      {"kind": "update", "of": "w2_1_1"},
                      {"kind": "rule", "of": "w2_1_1_new", "id": "rule_update"}],
    }
)  # fmt: skip
KEYS: dict[tuple[str, str], str] = {}  # (network, step) -> the keyed rule's words, across examples


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(student=st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8))
def test_every_rule_question_has_exactly_one_right_option_and_one_key_per_step(student):
    variant = draw_variant(SPEC, "salt", student)
    d = program_for(variant.network).derivation
    for blank in variant.blanks:
        if blank.kind != "rule":
            continue
        step = d.step(blank.step)
        cited = {RULE_WORDS[rule] for rule in step.rules}
        options = list(blank.options)
        right = options[LETTERS.index(str(blank.answer))]
        assert len(set(options)) == 4, options
        assert right in cited, (right, cited)
        assert right not in {RULE_WORDS[rule] for rule in GENERIC_RULES}
        correct = [option for option in options if option in cited]
        assert correct == [right], f"{blank.id}: options {options} cite {cited}"
        key = (variant.network.describe(), blank.step)
        assert KEYS.setdefault(key, right) == right, f"{key}: keyed {right}, before {KEYS[key]}"
