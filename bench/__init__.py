"""Benchmarks: decoding, model latency, end-to-end service throughput. Print numbers; never timed tests."""
