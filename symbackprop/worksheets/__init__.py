"""Worksheets: specs, seeded variants, verified keys, sheets, notebooks, grading, feedback."""
