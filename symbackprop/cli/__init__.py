"""The ``symbackprop`` command: one module per verb group; errors are one line, exit status 2."""
