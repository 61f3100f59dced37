"""Rendering: plain text, Markdown, LaTeX, HTML and PDF reports, diagrams and plots.

The one printer of SymPy in the book's notation is ``symbackprop.model.printing`` (the checks
print formulas too); this stage turns derivations into pages through ``templates/``.
"""
