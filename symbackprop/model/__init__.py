"""The model of computation: notation, SymPy functions, registries, networks, parser, specs.

A network is a straight-line program of named SymPy assignments (``network``); everything a
later stage needs to know about activations, losses and the book's notation lives here, and
nothing here imports a later stage. Renderers reach the model's objects through ``display``.
"""
