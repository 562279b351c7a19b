"""Benchmark harness: rootwalk against Unbound on the loopback lab (``python -m bench``)."""
