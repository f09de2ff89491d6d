"""A brief run of the fuzz target (bench/fuzz_decode.py); the full run is a few thousand iterations."""

from __future__ import annotations

import pytest

from bench.fuzz_decode import mutate, run_fuzz


def test_mutations_change_the_input_and_are_reproducible() -> None:
    import random

    data = bytes(range(256)) * 4
    first = [mutate(data, random.Random(seed), b"other") for seed in range(20)]
    assert first == [mutate(data, random.Random(seed), b"other") for seed in range(20)]
    assert sum(m != data for m in first) >= 18


@pytest.mark.slow
def test_fuzz_briefly_finds_nothing() -> None:
    report = run_fuzz(iterations=120, seed=12345)
    assert report.iterations == 120
    assert report.failures == [], report.failures[0]
    assert report.decoded > 0 and sum(report.refused.values()) > 0  # both paths exercised
    assert report.slowest_s < 2.0
