"""Ray engine figures for the README, on real Ray clusters on this machine (the test helpers' nodes):
closed-loop POST throughput of the shipped motion-timesformer on the real clips of ../shared/media, for

1. `vtserve serve` alone (uvicorn, 1 and 2 decoder workers) — the reference;
2. one Ray node (head: 2 logical CPUs) with 1, then 2 decode replicas of 1 worker each;
3. two Ray nodes (1 logical CPU each; decoding on the worker, ingress and model on the head), 1 then 2
   decode replicas.

Every configuration uses the same physical cores (this machine has two), so what a second node can add is
placement, not compute; the decode calls per node show where the work ran.

    python -m tests.service.engines.bench_ray [--seconds 30] [--clients 8] [--out bench/results/ray.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.bundles import prepare
from bench.clips import Clip, real_clips
from bench.loadgen import drive
from tests.deploy.servers import replicas
from tests.service.conftest import free_port, metric_samples
from tests.service.engines.cluster import Cluster, ray_cluster, running_replicas, serve_run

REPO_ROOT = Path(__file__).resolve().parents[3]
SETTINGS: dict[str, Any] = {
    "providers": ["cpu"],
    "decoder_workers": 1,
    "max_batch_size": 8,
    "max_queue": 64,
    "max_in_flight": 64,
    "log_level": "warning",
}


def throughput(url: str, clips: list[Clip], clients: int, seconds: float) -> dict[str, Any]:
    result = asyncio.run(drive(f"{url}/v1/predictions", clips, concurrency=clients, duration_s=seconds))
    return result.summary()


def decode_calls(url: str) -> dict[str, float]:
    """`{node id (12 characters): decode calls}` answered so far."""
    samples = metric_samples(httpx.get(f"{url}/metrics", timeout=10).text, "vtserve_engine_calls_total")
    return {
        labels.split('node="')[1][:12]: value for labels, value in samples.items() if '"decode"' in labels
    }


def config(folder: Path, bundle: Path, port: int, decode_replicas: int, on_worker: bool) -> Path:
    document = yaml.safe_load((REPO_ROOT / "deploy" / "ray" / "serve.yaml").read_text())
    document["proxy_location"] = "HeadOnly"
    document["http_options"] = {"host": "127.0.0.1", "port": port}
    args = document["applications"][0]["args"]
    args["settings"] = {**SETTINGS, "models": [str(bundle)]}
    args["ingress"] = {"resources": {"vtserve_head": 1.0}}
    args["model"] = {"resources": {"vtserve_head": 1.0}}
    decode = {"min_replicas": decode_replicas, "max_replicas": decode_replicas, "num_cpus": 0.5}
    args["decode"] = decode | ({"resources": {"vtserve_decode": 1.0}} if on_worker else {})
    path = folder / f"serve-{decode_replicas}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def measure_cluster(
    cluster: Cluster, bundle: Path, clips: list[Clip], args: argparse.Namespace, *, on_worker: bool
) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    for count in (1, 2):
        serve_run(cluster, config(cluster.folder, bundle, port, count, on_worker))
        deadline = time.monotonic() + 300
        while running_replicas(cluster, "vtserve", "decode") != count or not _ready(url):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} decode replicas not running\n{cluster.logs()}")
            time.sleep(2)
        before = decode_calls(url)
        result = throughput(url, clips, args.clients, args.seconds)
        after = decode_calls(url)
        result["decode_calls_by_node"] = {n: after[n] - before.get(n, 0.0) for n in after}
        out[f"{count}_decode_replicas"] = result
        print(json.dumps({f"{count} decode replicas": result}), flush=True)
    return out


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench/results/ray.json"))
    parser.add_argument("--parts", default="serve,one,two", help="which of serve, one, two to run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    model = prepare("auto", Path("bench/results/models"))
    bundle = (model.repository / model.name).resolve()
    clips = real_clips()
    report: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report |= {"model": model.label, "clients": args.clients, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="vtrb-") as tmp:
        work = Path(tmp)
        env = {k: str(v) for k, v in SETTINGS.items() if k != "providers"} | {"providers": "cpu"}
        for workers in (1, 2) if "serve" in parts else ():
            name = f"vtserve_serve_{workers}_workers"
            with replicas(bundle, work / name, 1, **(env | {"decoder_workers": str(workers)})) as one:
                report[name] = throughput(one.urls[0], clips, args.clients, args.seconds)
            print(json.dumps({name: report[name]}), flush=True)
        head = {"vtserve_head": 2.0, "vtserve_decode": 2.0}
        if "one" in parts:
            with ray_cluster(work / "one", head, None, head_cpus=2) as cluster:
                report["ray_1_node"] = measure_cluster(cluster, bundle, clips, args, on_worker=False)
        if "two" in parts:
            with ray_cluster(work / "two", {"vtserve_head": 2.0}, {"vtserve_decode": 2.0}) as cluster:
                report["ray_2_nodes"] = measure_cluster(cluster, bundle, clips, args, on_worker=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
