"""The derivation engine: the local rule per node, the reverse sweep, the Derivation data.

Every step is SymPy data in named intermediates (z, a, delta); numbers for a derivation
(``evaluation``) and the layer view's BP1-BP4 (``equations``) are views of the same steps.
"""
