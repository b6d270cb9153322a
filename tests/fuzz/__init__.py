"""Fuzzing harnesses: one target per parser (see ``targets.py``), run by ``run.py``."""
