"""Reproducible benchmarks, each compared with its baseline in the same run (``make bench``)."""
