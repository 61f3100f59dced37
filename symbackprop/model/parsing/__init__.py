"""The safe parser: user text -> SymPy through an AST whitelist, within size limits."""
