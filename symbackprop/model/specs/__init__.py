"""TOML network specs: the file, located errors, its data table -> a Network and its numbers."""
