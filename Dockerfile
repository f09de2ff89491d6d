# syntax=docker/dockerfile:1
#
# vtserve images. Two targets:
#   gpu (default, the last stage): CUDA 13.0 + cuDNN 9 runtime, onnxruntime-gpu with its TensorRT and CUDA
#       execution providers, no torch. The shipped models are exported to ONNX bundles in the `export`
#       stage and copied in; TensorRT engines are built on first start for the GPU present and cached in
#       /var/cache/vtserve (mount a volume there).
#         docker build -t vtserve:gpu .
#         docker run --gpus all -p 8000:8000 -v vtserve-cache:/var/cache/vtserve vtserve:gpu
#   cpu: python:3.11-slim with torch (CPU build) and onnxruntime; the same steps as `make serve`, so it
#       exports the shipped models into /var/cache/vtserve on first start.
#         docker build --target cpu -t vtserve:cpu .
#
# Version pins live in deploy/requirements-*.txt (checked by tests/deploy/).

ARG PYTHON_IMAGE=python:3.11-slim
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_VERSION=26.3

# ---------------------------------------------------------------------------------------------------------
# python-base: what the CPU build, the export stage and the CPU image share.
FROM ${PYTHON_IMAGE} AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# ---------------------------------------------------------------------------------------------------------
# cpu-build: `make install` minus the dev extra. The local torch pin exists only on the developers'
# machines, so torch 2.13.0 comes from the PyTorch CPU index (the PyPI wheel for Linux is the CUDA build).
FROM python-base AS cpu-build
ARG PIP_VERSION
ARG TORCH_VERSION
ARG TORCH_INDEX_URL
RUN python -m venv /opt/venv \
    && pip install --upgrade "pip==${PIP_VERSION}" \
    && pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
COPY deploy/requirements-serve.txt deploy/requirements-cpu.txt /tmp/requirements/
RUN pip install -r /tmp/requirements/requirements-cpu.txt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY models ./models
COPY export ./export
COPY service ./service
COPY bench ./bench
RUN pip install . \
    && rm -rf /src /tmp/requirements

# ---------------------------------------------------------------------------------------------------------
# export: the shipped models as ONNX bundles (torch is needed here only). Built only for the gpu target.
FROM cpu-build AS export
RUN vtserve export motion-timesformer --out /models/motion-timesformer \
    && vtserve export motion-vivit --out /models/motion-vivit

# ---------------------------------------------------------------------------------------------------------
# cpu: the CPU image.
FROM python-base AS cpu
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/vtserve vtserve \
    && mkdir -p /var/cache/vtserve \
    && chown vtserve:vtserve /var/cache/vtserve
COPY --from=cpu-build /opt/venv /opt/venv
ENV VTSERVE_HOST=0.0.0.0 \
    VTSERVE_PORT=8000 \
    VTSERVE_CACHE_DIR=/var/cache/vtserve/bundles
WORKDIR /home/vtserve
USER 10001:10001
VOLUME ["/var/cache/vtserve"]
EXPOSE 8000
# Liveness only: /healthz answers while the models load in the background (/readyz says when they are ready).
# The long start period covers a first start that exports both models while the process is busy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('VTSERVE_PORT', '8000'), timeout=4)"]
CMD ["vtserve", "serve"]

# ---------------------------------------------------------------------------------------------------------
# gpu-build: a torch-free virtual environment with onnxruntime-gpu and TensorRT 10 for CUDA 13.
FROM ${CUDA_IMAGE} AS gpu-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DEBIAN_FRONTEND=noninteractive
# Ubuntu's python3 (3.12); apt versions are not pinned: the archive drops old ones.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY deploy/requirements-serve.txt deploy/requirements-gpu.txt /tmp/requirements/
# tensorrt's libraries come from NVIDIA's index; only that install looks there.
RUN grep -v '^tensorrt' /tmp/requirements/requirements-gpu.txt > /tmp/requirements/without-tensorrt.txt \
    && pip install -r /tmp/requirements/without-tensorrt.txt \
    && pip install --extra-index-url https://pypi.nvidia.com \
        "$(grep '^tensorrt==' /tmp/requirements/requirements-gpu.txt)" \
    && ln -s "$(python -c 'import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))')" \
        /opt/venv/tensorrt_libs
# Fail the build if onnxruntime's TensorRT provider would not load: every library it needs (libnvinfer.so.10,
# libnvonnxparser.so.10, CUDA 13, cuDNN 9) must resolve here. Only the driver's libcuda.so.1 comes later,
# from the NVIDIA Container Toolkit.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN provider="$(python -c 'import os, onnxruntime; print(os.path.dirname(onnxruntime.__file__))')/capi/libonnxruntime_providers_tensorrt.so" \
    && test -f "$provider" \
    && missing="$(LD_LIBRARY_PATH=/opt/venv/tensorrt_libs ldd "$provider" | grep 'not found' | grep -v 'libcuda\.so\.1' || true)" \
    && if [ -n "$missing" ]; then echo "unresolved libraries for $provider:"; echo "$missing"; exit 1; fi
WORKDIR /src
COPY pyproject.toml README.md ./
COPY models ./models
COPY export ./export
COPY service ./service
COPY bench ./bench
# --no-deps: the package's own dependency list includes torch, which this image does not want.
RUN pip install --no-deps . \
    && python -c "import service.settings, service.metrics, onnxruntime, av" \
    && pip uninstall -y pip \
    && rm -rf /src /tmp/requirements

# ---------------------------------------------------------------------------------------------------------
# gpu: the default image. Runtime is onnxruntime with providers TensorRT -> CUDA -> CPU (the settings'
# defaults); onnxruntime's TensorRT provider caches the engines it builds under /var/cache/vtserve/tensorrt,
# named by model hash and GPU compute capability (e.g. ..._sm90.engine). Clear the volume after changing
# the TensorRT version.
FROM ${CUDA_IMAGE} AS gpu
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/vtserve vtserve \
    && mkdir -p /var/cache/vtserve/tensorrt \
    && chown -R vtserve:vtserve /var/cache/vtserve
COPY --from=gpu-build /opt/venv /opt/venv
COPY --from=export /models /models
ENV PATH=/opt/venv/bin:$PATH \
    LD_LIBRARY_PATH=/opt/venv/tensorrt_libs \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VTSERVE_HOST=0.0.0.0 \
    VTSERVE_PORT=8000 \
    VTSERVE_MODEL_REPOSITORY=/models \
    VTSERVE_CACHE_DIR=/var/cache/vtserve/bundles \
    ORT_TENSORRT_ENGINE_CACHE_ENABLE=1 \
    ORT_TENSORRT_TIMING_CACHE_ENABLE=1 \
    ORT_TENSORRT_CACHE_PATH=/var/cache/vtserve/tensorrt
WORKDIR /home/vtserve
USER 10001:10001
VOLUME ["/var/cache/vtserve"]
EXPOSE 8000
# Liveness only: /healthz answers while the models load in the background (/readyz says when they are ready).
# The long start period covers a first start on a new GPU, which builds TensorRT engines (minutes).
HEALTHCHECK --interval=30s --timeout=5s --start-period=900s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('VTSERVE_PORT', '8000'), timeout=4)"]
CMD ["vtserve", "serve"]
