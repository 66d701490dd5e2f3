"""Benchmarks: render throughput now; sim-to-real detector benchmark later."""
