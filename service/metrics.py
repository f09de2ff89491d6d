"""Every Prometheus metric the service exports, on an injectable registry (one `Metrics` per app).

The names are a contract with the Grafana dashboard in `deploy/`; do not rename them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# From ~5 ms to ~30 s: video requests span tiny models on short clips to big models on long uploads.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
# Whole timelines: a second to an hour.
TIMELINE_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STAGES = ("upload", "decode", "queue", "inference", "postprocess")

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's metrics. Pass a fresh `CollectorRegistry` per app so tests stay independent."""

    _decoder_replaced: int = 0  # the decoder's replacements already counted in `decoder_restarts`

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._define_request_metrics(self.registry)
        self._define_model_metrics(self.registry)
        self._define_worker_metrics(self.registry)
        self._define_timeline_metrics(self.registry)

    def _define_request_metrics(self, r: CollectorRegistry) -> None:
        """Requests as clients see them: counts, errors, latency overall and per stage."""
        self.requests = Counter(
            "vtserve_requests",
            "Prediction requests by model and HTTP status.",
            ["model", "status"],
            registry=r,
        )
        self.request_errors = Counter(
            "vtserve_request_errors",
            "Failed requests by model and error code.",
            ["model", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "vtserve_request_duration_seconds",
            "Prediction request latency, upload to answer.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_duration = Histogram(
            "vtserve_stage_duration_seconds",
            "Time spent per pipeline stage (admission: waiting for a slot; upload, decode, queue, inference, "
            "postprocess).",
            ["model", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge("vtserve_inflight_requests", "Prediction requests being served.", registry=r)
        self.admission_waiting = Gauge(
            "vtserve_admission_waiting",
            "Prediction requests waiting for one of the model's admission slots, their bodies unread.",
            ["model"],
            registry=r,
        )
        self.decode_failures = Counter(
            "vtserve_decode_failures", "Uploads that failed to decode, by error code.", ["code"], registry=r
        )

    def _define_model_metrics(self, r: CollectorRegistry) -> None:
        """The loaded models and their batchers: batch sizes, queue depth and queue pressure."""
        self.batch_size = Histogram(
            "vtserve_batch_size",
            "Clips per inference batch.",
            ["model"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "vtserve_queue_depth",
            "Clips admitted to a model's batcher and not yet answered.",
            ["model"],
            registry=r,
        )
        self.model_info = Gauge(
            "vtserve_model_info",
            "Loaded models (value 1) with their version, runtime and the execution provider really in use.",
            ["model", "version", "runtime", "provider"],
            registry=r,
        )
        # Queue pressure for autoscaling (deploy/k8s/): the counterparts of Triton's
        # nv_inference_queue_duration_us and nv_inference_request_success. Average queue time per request
        # over a window = rate(queue_duration) / rate(request_success).
        self.inference_queue_duration = Counter(
            "vtserve_inference_queue_duration_seconds",
            "Cumulative seconds clips waited in a model's batcher queue before their batch ran.",
            ["model"],
            registry=r,
        )
        self.inference_success = Counter(
            "vtserve_inference_request_success",
            "Clips a model's batcher answered with outputs (successful inferences).",
            ["model"],
            registry=r,
        )

    def _define_worker_metrics(self, r: CollectorRegistry) -> None:
        """The collaborators' health: decoder worker processes and the result store."""
        self.decoder_workers_alive = Gauge(
            "vtserve_decoder_workers_alive", "Decoder worker processes alive.", registry=r
        )
        self.decoder_restarts = Counter(
            "vtserve_decoder_restarts",
            "Decoder worker processes replaced after a crash or timeout.",
            registry=r,
        )
        self.result_store_errors = Counter(
            "vtserve_result_store_errors",
            "Result-store calls that failed (store down, unreachable or too slow), by operation (put, get).",
            ["operation"],
            registry=r,
        )

    def _define_timeline_metrics(self, r: CollectorRegistry) -> None:
        """Timelines (`POST /v1/timelines`): windows, jobs by outcome, job time, time to the first window."""
        self.timeline_windows = Counter(
            "vtserve_timeline_windows", "Timeline windows classified and sent.", ["model"], registry=r
        )
        self.timeline_windows_cancelled = Counter(
            "vtserve_timeline_windows_cancelled",
            "Timeline windows planned but never computed, by why the timeline ended early (the client "
            "disconnected: `cancelled`; the server drained: `not_ready`; or an error code).",
            ["model", "reason"],
            registry=r,
        )
        self.timeline_outcomes = Counter(
            "vtserve_timelines",
            "Timelines by outcome (`done`, `cancelled` or an error code).",
            ["model", "outcome"],
            registry=r,
        )
        self.timelines_in_progress = Gauge(
            "vtserve_timelines_in_progress", "Timelines running now.", registry=r
        )
        self.timeline_duration = Histogram(
            "vtserve_timeline_duration_seconds",
            "Timeline jobs, upload to last line.",
            ["model"],
            buckets=TIMELINE_BUCKETS,
            registry=r,
        )
        self.timeline_first_window = Histogram(
            "vtserve_timeline_first_window_seconds",
            "Time from a timeline's upload starting to its first window line.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.timeline_video_seconds = Counter(
            "vtserve_timeline_video_seconds", "Seconds of video in timelines.", ["model"], registry=r
        )

    def observe_decoder(self, *, alive_workers: int, replaced_total: int) -> None:
        """Set the decoder gauges from the pool's counts (its replacements are counted since it started)."""
        self.decoder_workers_alive.set(alive_workers)
        if replaced_total > self._decoder_replaced:
            self.decoder_restarts.inc(replaced_total - self._decoder_replaced)
            self._decoder_replaced = replaced_total

    def observe_inference(self, model: str, queue_s: float) -> None:
        """One clip answered by `model`'s batcher after waiting `queue_s` in its queue."""
        self.inference_queue_duration.labels(model=model).inc(max(queue_s, 0.0))
        self.inference_success.labels(model=model).inc()

    def observe_stage(self, model: str, stage: str, seconds: float) -> None:
        self.stage_duration.labels(model=model, stage=stage).observe(max(seconds, 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
