"""The catalogue of classic backpropagation mistakes, registered in diagnosis priority.

Each entry of the registry in :mod:`symbackprop.checks.mistakes` is defined in one of the
modules below and registered right below its definition; the first entry that fits a wrong
formula names the mistake. Rebuilt formulas come first, the ratio diagnoses last (the final one
always answers), so the order of these imports is the priority. The matrix-level mistakes of
networks of layers are a registry of their own, filled by ``matrix.py`` in its own order.
Import this package wherever the registries must be full (the checkers, the worksheets' known
mistakes).
"""

from symbackprop.checks.catalogue import formulas, matrix, ratios

__all__ = ["formulas", "matrix", "ratios"]
