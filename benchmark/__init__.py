"""Benchmarks: render throughput (`bench render`) and the sim-to-real detector benchmark (`benchmark`)."""
