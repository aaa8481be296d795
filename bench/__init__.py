"""Benchmarks and the chaos run (issue 9). Run them with ``bench/run`` and ``bench/chaos``."""
