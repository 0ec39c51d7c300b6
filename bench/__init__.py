"""Benchmarks: our code against a peer, side by side in one process (`make bench`)."""
