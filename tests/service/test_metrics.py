"""The decoder gauges: the pool reports running totals; the restarts counter counts each replacement once."""

from __future__ import annotations

from service.metrics import Metrics


def test_decoder_restarts_count_each_replacement_once() -> None:
    metrics = Metrics()

    def sample(name: str) -> float | None:
        return metrics.registry.get_sample_value(name)

    metrics.observe_decoder(alive_workers=2, replaced_total=0)
    assert sample("vtserve_decoder_workers_alive") == 2 and sample("vtserve_decoder_restarts_total") == 0
    metrics.observe_decoder(alive_workers=1, replaced_total=2)
    metrics.observe_decoder(alive_workers=2, replaced_total=2)  # scraped again: nothing new
    assert sample("vtserve_decoder_workers_alive") == 2 and sample("vtserve_decoder_restarts_total") == 2
    metrics.observe_decoder(alive_workers=2, replaced_total=5)
    assert sample("vtserve_decoder_restarts_total") == 5
