"""A real Ray cluster of separate nodes on this machine, for the Ray engine's tests.

Each node is `ray start --block` in a session of its own (`setsid`), with 1 CPU, no dashboard, a small
object store, its own ports and `--temp-dir` under the test's folder. A node is stopped by its process
group, and then any process still naming that temp dir is killed by pid: never `ray stop`, which stops
every Ray node on the host.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.service.conftest import free_port

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 150 * 1024 * 1024


def _ports(head: bool) -> list[str]:
    names = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port"]
    names += ["--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port"]
    if head:
        names += ["--ray-client-server-port"]
    return [f"{name}={free_port()}" for name in names]


def _own_pids(marker: str, group: int | None) -> list[int]:
    """Processes in process group `group`, or whose command line or environment names `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError, ValueError, IndexError):
            pgid = int((entry / "stat").read_text().rpartition(")")[2].split()[2])
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            if pgid == group or marker.encode() in text:
                pids.append(int(entry.name))
    return pids


@dataclass
class Node:
    """One `ray start --block` process group."""

    name: str
    temp_dir: Path
    log: Path
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def marker(self) -> str:
        return f"VTRAY_TEST_NODE={self.temp_dir}"

    def start(self) -> None:
        env = {**self.env, "VTRAY_TEST_NODE": str(self.temp_dir)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )

    def kill(self) -> None:
        """SIGKILL the whole node at once, as a lost machine (its raylet, workers and replicas)."""
        group = None if self.proc is None else self.proc.pid
        for pid in _own_pids(self.marker, group):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM the group (Ray's own shutdown), then SIGKILL whatever is left of it."""
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
        self.kill()


@dataclass
class Cluster:
    folder: Path
    gcs_port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)
    #: Ray's token authentication with a token of this cluster's own, for its nodes and every client.
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def env(self) -> dict[str, str]:
        """The environment of a node or client (`serve run`, `vtserve serve --engine ray`) of this cluster."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VTSERVE_"))}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_USAGE_STATS_ENABLED="0")
        return env

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    def _node(self, name: str, resources: dict[str, float], head: bool, cpus: int) -> Node:
        temp = self.folder / name
        temp.mkdir(parents=True, exist_ok=True)
        role = [f"--address={self.address}"]
        if head:
            role = ["--head", f"--port={self.gcs_port}", "--include-dashboard=false"]
            role += [f"--dashboard-port={free_port()}"]
        argv = [str(RAY), "start", "--block", *role, "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}"]
        argv += ["--num-gpus=0", f"--resources={json.dumps(resources)}"]
        argv += [f"--temp-dir={temp}", f"--object-store-memory={OBJECT_STORE_BYTES}", "--disable-usage-stats"]
        node = Node(name, temp, self.folder / f"{name}.log", argv + _ports(head), self.env)
        self.nodes.append(node)
        return node

    def start_node(
        self, name: str, resources: dict[str, float], *, head: bool = False, cpus: int = 1
    ) -> Node:
        node = self._node(name, resources, head, cpus)
        node.start()
        return node

    def stop(self) -> None:
        for node in reversed(self.nodes):  # workers first, the head last
            node.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n.log.name}\n{n.log.read_text(errors='replace')[-3000:]}" for n in self.nodes)


def wait_for_nodes(cluster: Cluster, count: int, timeout_s: float = 90.0) -> None:
    """Until `ray status` counts `count` active nodes."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if any(node.proc is not None and node.proc.poll() is not None for node in cluster.nodes[-1:]):
            raise RuntimeError(f"a Ray node exited while starting\n{cluster.logs()}")
        done = subprocess.run(
            [str(RAY), "status", f"--address={cluster.address}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=cluster.env,
        )
        last = done.stdout + done.stderr
        active = last.split("Active:")[-1].split("Pending:")[0] if "Active:" in last else ""
        if active.count("node_") >= count:
            return
        time.sleep(1)
    raise TimeoutError(f"{count} nodes not alive after {timeout_s}s:\n{last}\n{cluster.logs()}")


@contextmanager
def ray_cluster(
    folder: Path, head: dict[str, float], worker: dict[str, float] | None, *, head_cpus: int = 1
) -> Iterator[Cluster]:
    """A head and (unless `worker` is None) a worker node of 1 CPU, with these custom resources; stopped
    on exit."""
    cluster = Cluster(folder)
    try:
        cluster.start_node("head", head, head=True, cpus=head_cpus)
        wait_for_nodes(cluster, 1)
        if worker is not None:
            cluster.start_node("worker", worker)
            wait_for_nodes(cluster, 2)
        yield cluster
    finally:
        cluster.stop()


def serve_run(cluster: Cluster, config: Path) -> None:
    """`serve run --non-blocking CONFIG` against the cluster: Ray's own tooling deploys (or updates) it."""
    argv = [str(RAY.with_name("serve")), "run", "--non-blocking", f"--address={cluster.address}", str(config)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env=cluster.env, cwd=config.parent
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def running_replicas(cluster: Cluster, app: str, deployment: str) -> int:
    """Replicas of `deployment` that Serve reports RUNNING."""
    code = (
        "from ray import serve\n"
        f"status = serve.status().applications[{app!r}].deployments[{deployment!r}]\n"
        "print(status.replica_states.get('RUNNING', 0))"
    )
    return int(driver(cluster, code).strip().splitlines()[-1])


def driver(cluster: Cluster, code: str, timeout_s: float = 120.0) -> str:
    """Run `code` in a Python process connected to the cluster (`ray` is imported and initialised)."""
    script = f"import json, ray\nray.init(address={cluster.address!r}, logging_level='ERROR')\n{code}\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout_s, env=cluster.env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def alive_nodes(cluster: Cluster) -> dict[str, dict[str, float]]:
    """`{node id: resources}` of the nodes alive now, as the GCS knows them."""
    code = "print(json.dumps({n['NodeID']: n['Resources'] for n in ray.nodes() if n['Alive']}))"
    nodes: dict[str, dict[str, float]] = json.loads(driver(cluster, code).strip().splitlines()[-1])
    return nodes


def node_with(cluster: Cluster, resource: str) -> str:
    """The id of the one alive node that declares `resource`."""
    (node,) = [n for n, resources in alive_nodes(cluster).items() if resource in resources]
    return node
