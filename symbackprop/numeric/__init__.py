"""The numeric backend: compile() a derivation to NumPy, vectorized over a batch; train()."""
