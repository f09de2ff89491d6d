"""The vtserve HTTP service: decoding, batching, runtimes, attention heatmaps and metrics."""
