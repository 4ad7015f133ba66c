"""Benchmarks (minutes, not tests): run the scripts, e.g. ``uv run python bench/annual.py``."""
