"""The LitServe peer of `vtserve bench e2e`: the same bundle behind LitServe, set up as its docs advise.

Runs in the peer's own virtualenv (made by `bench.peer.ensure_venv`; LitServe pins its own fastapi and
uvicorn), from the repository root:

    cache/peer-venv/bin/python -m bench.peer_litserve --bundle DIR --port 8002 --decode-request '{...}'

* `decode_request`: the multipart upload (field `file`, as the load generator sends it) decoded into the
  model's clip by `PeerModel.decode` (PyAV; the bundle's sampling, resize and crop).
* LitServe's dynamic batching (`max_batch_size`, `batch_timeout`) collects uploads; `batch` keeps the
  decoded clips as a list and `predict` runs them as one onnxruntime batch (`PeerModel.predict`).
* `workers_per_device` worker processes on the CPU (2: one per core, LitServe's advice for CPU), each with
  its own session and vtserve's `intra_op_threads`; `timeout` = vtserve's request timeout.

POST /predict answers `{"labels": [...], "temporal": ...}`; GET /health is 200 once every worker is set up.
SIGTERM stops it as Ctrl+C does (LitServe then stops its workers; left alone, SIGTERM ends only its main
process and leaves the workers running).
"""

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import litserve as ls
import numpy as np
from numpy.typing import NDArray
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from bench.peer_model import Answer, PeerModel
from service.decoding.types import DecodeRequest


class ClipClassifierAPI(ls.LitAPI):
    """A LitAPI over `PeerModel`; built in the server process, set up in each worker."""

    def __init__(self, *, bundle: Path, plan: DecodeRequest, intra_op_threads: int, **batching: Any) -> None:
        super().__init__(**batching)
        self.bundle = bundle
        self.plan = plan
        self.intra_op_threads = intra_op_threads

    def setup(self, device: str) -> None:
        self.model = PeerModel(self.bundle, self.plan, intra_op_threads=self.intra_op_threads)

    def decode_request(self, request: Request) -> NDArray[np.uint8]:
        """LitServe reads this annotation (so no `from __future__ import annotations` here): for `Request`
        it hands over the parsed body, for a multipart upload its `FormData`."""
        upload = cast(FormData, request)["file"]
        return self.model.decode(cast(UploadFile, upload).file.read())

    def batch(self, inputs: list[NDArray[np.uint8]]) -> list[NDArray[np.uint8]]:
        return list(inputs)

    def predict(self, x: list[NDArray[np.uint8]]) -> list[Answer]:
        return self.model.predict(x)

    def unbatch(self, output: list[Answer]) -> list[Answer]:
        return output

    def encode_response(self, output: Answer) -> Answer:
        return output


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peer_litserve", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle vtserve serves")
    parser.add_argument("--decode-request", required=True, help="DecodeRequest fields as JSON")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-timeout", type=float, default=0.01, help="seconds")
    parser.add_argument("--timeout", type=float, default=120.0, help="request timeout, seconds")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="0: onnxruntime's default")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (workers_per_device)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # LitServe shuts down (workers included) on Ctrl+C only; SIGTERM, how servers are stopped, does the same
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    api = ClipClassifierAPI(
        bundle=args.bundle.resolve(),
        plan=DecodeRequest(**json.loads(args.decode_request)),
        intra_op_threads=args.intra_op_threads,
        max_batch_size=args.max_batch_size,
        batch_timeout=args.batch_timeout,
    )
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=args.workers, timeout=args.timeout)
    server.run(host=args.host, port=args.port, log_level="warning", generate_client_file=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
