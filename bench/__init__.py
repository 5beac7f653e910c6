"""Throughput, latency and memory benchmarks of the pipeline against a real local broker.

``python -m bench`` (``make bench``) runs every measurement in one process against one broker
and prints one table; ``--quick`` is a smaller run for iteration. See BENCHMARKS.md.
"""

__all__: list[str] = []
