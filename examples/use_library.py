"""Use symbackprop from Python: load a spec, derive, check, train, and build a network by hand.

Run from the repository root:  python examples/use_library.py
"""

from __future__ import annotations

from pathlib import Path

import symbackprop as sb

HERE = Path(__file__).resolve().parent

# 1. A spec from a file: network, initial parameters, data and training settings.
spec = sb.load_spec(HERE / "mazur.toml")
X, Y = spec.data
derivation = sb.derive(spec.network, freeze=spec.training.freeze)
print(
    derivation.to_text(
        derivation.evaluate(spec.params, X[0], Y[0], spec.training.learning_rate)
    ).splitlines()[0]
)
print("dL/dw2_1_1 =", derivation.gradient("w2_1_1"))  # delta2_1*a1_1, in named intermediates

# 2. Analytic gradients against central finite differences.
check = sb.gradcheck(spec.network, spec.params, X, Y)
print(f"gradcheck ok: {check.ok} (largest relative error {check.max_rel_error:.1e})")

# 3. Gradient descent; the parameters passed in are not changed.
result = sb.train(
    spec.network, spec.params, X, Y, learning_rate=0.5, epochs=1000, freeze=spec.training.freeze
)
print(f"loss {result.losses[0]:.6f} -> {result.final_loss:.6f} after 1000 epochs")

# 4. A network built in code, with seeded initial weights.
net = sb.mlp([2, 3, 1], activation=["tanh", "sigmoid"], loss="half_sse")
params = net.init_params(seed=1)
X_xor = [[0, 0], [0, 1], [1, 0], [1, 1]]
Y_xor = [[0], [1], [1], [0]]
trained = sb.train(net, params, X_xor, Y_xor, learning_rate=2.0, epochs=1000)
print(
    f"xor: loss {trained.final_loss:.5f}, outputs",
    sb.compile(net).forward(trained.params, X_xor).ravel().round(2),
)
