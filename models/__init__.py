"""Video transformers for action recognition (TimeSformer, ViViT, VideoMAE), built from shared parts.

This package knows nothing of `export/` or `service/`.
"""
