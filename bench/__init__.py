"""Benchmarks: measured side by side with their references, written to BENCHMARKS.md."""
