"""The Ray engine's own metric families, on the app's registry (next to the `vtserve_*` families of
`service.metrics`, which the engine fills exactly as `vtserve serve` does):

* `vtserve_engine_calls_total{deployment, node}`: calls the ingress made to a deployment and got answered,
  by the Ray node id of the replica that answered — where decoding and inference really ran;
* `vtserve_engine_replicas{deployment, node}`: replicas that answered within the last minute, per node (the
  ingress counts itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from service.engines.ray.handles import Placement

#: A replica counts in `vtserve_engine_replicas` for this long after its last answer.
RECENT_S = 60.0


class EngineMetrics:
    """Records which replica, on which node, answered each call (a collector on the registry)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ingress: Placement,
        *,
        clock: Callable[[], float] = time.monotonic,
        recent_s: float = RECENT_S,
    ) -> None:
        self.calls = Counter(
            "vtserve_engine_calls",
            "Calls answered by the Ray engine's deployments, by deployment and the Ray node id of the "
            "replica that answered.",
            ["deployment", "node"],
            registry=registry,
        )
        self.ingress = ingress
        self._clock = clock
        self._recent_s = recent_s
        self._lock = threading.Lock()
        self._seen: dict[Placement, float] = {}
        registry.register(self)

    def answered(self, placement: Placement) -> None:
        self.calls.labels(deployment=placement.deployment, node=placement.node_id).inc()
        with self._lock:
            self._seen[placement] = self._clock()

    def replicas(self) -> dict[tuple[str, str], int]:
        """`{(deployment, node): replicas}` heard from within `recent_s`, the ingress included."""
        now = self._clock()
        counts = {(self.ingress.deployment, self.ingress.node_id): 1}
        with self._lock:
            recent = [p for p, seen in self._seen.items() if now - seen <= self._recent_s]
        for placement in recent:
            key = (placement.deployment, placement.node_id)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "vtserve_engine_replicas",
            "Replicas of the Ray engine's deployments that answered in the last minute, by Ray node id.",
            labels=["deployment", "node"],
        )
        for (deployment, node), count in sorted(self.replicas().items()):
            family.add_metric([deployment, node], count)
        yield family
