"""Model bundles: ONNX graphs (and TensorRT engines) with attention outputs, parity-checked against PyTorch.

`export.manifest` is torch-free so that the service can read bundles without torch.
"""
