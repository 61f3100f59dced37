"""Checks: gradcheck against finite differences, the hand-derived gradient checker, mistakes."""
