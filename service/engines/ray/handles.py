"""Ray behind typed wrappers: the lazy import (with an install hint), where a replica runs, and calls to
a deployment that always end, in time, with a result or one of four `CallError`s.

A call to a replica on a node that is lost does not fail: it waits, with no error, until its caller gives
up (and a request for a deployment with no live replica waits for one to be scheduled). So every call here
has a deadline; a call that meets a lost replica is tried again once, on whatever replica the router
picks next, within the same deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray engine needs Ray Serve: pip install 'vtserve[ray]'"
#: A lost replica is retried after this pause, so the router can drop it first.
RETRY_PAUSE_S = 0.2


def ray_module() -> ModuleType:
    """`ray`, or a RuntimeError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc
    module: ModuleType = ray
    return module


def serve_module() -> ModuleType:
    """`ray.serve`, or a RuntimeError that says how to install it."""
    try:
        from ray import serve
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc
    module: ModuleType = serve
    return module


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where a replica runs: its deployment, the Ray node (id, hex) and the replica's actor id."""

    deployment: str
    node_id: str
    replica_id: str


#: The node and replica of code that runs outside Ray (tests, tools): never start Ray just to ask.
LOCAL = "local"


def here(deployment: str) -> Placement:
    """The placement of the calling replica; `local` outside a connected Ray worker or driver."""
    ray = ray_module()
    if not ray.is_initialized():
        return Placement(deployment=deployment, node_id=LOCAL, replica_id=LOCAL)
    context = ray.get_runtime_context()
    return Placement(
        deployment=deployment,
        node_id=str(context.get_node_id()),
        replica_id=str(context.get_actor_id() or LOCAL),
    )


def cluster_gpus() -> float:
    """GPUs the connected cluster has now (0 when none; an autoscaled GPU group may still be at zero)."""
    resources = ray_module().cluster_resources()
    return float(resources.get("GPU", 0.0))


class CallError(Exception):
    """A deployment call that did not produce the replica's answer (the message names the deployment)."""


class CallTimeout(CallError):
    """No answer before the deadline: the replica is slow, lost, or none is running yet."""


class CallLost(CallError):
    """The replica (or its node, or the object holding its answer) was lost, twice in a row."""


class CallOverloaded(CallError):
    """The deployment refused the call: every replica is at `max_ongoing_requests` and its queue is full."""


class CallFailed(CallError):
    """The replica's own code raised (a bug: replicas answer expected errors as values). Logged here."""


def _classify(exc: BaseException, deployment: str) -> CallError | None:
    """The `CallError` for an exception from Ray, or None if it did not come from Ray."""
    ray = ray_module()
    from ray.serve import exceptions as serve_exceptions

    if isinstance(exc, serve_exceptions.BackPressureError):
        return CallOverloaded(f"{deployment}: every replica is busy")
    if isinstance(exc, ray.exceptions.RayTaskError):
        log.error("a %s replica raised: %s", deployment, exc)
        return CallFailed(f"{deployment}: the replica raised")
    if isinstance(exc, ray.exceptions.RayError | serve_exceptions.RayServeException):
        return CallLost(f"{deployment}: {type(exc).__name__}")
    return None


class Response(Protocol):
    """What this module uses of a Serve `DeploymentResponse`."""

    def __await__(self) -> Generator[Any, None, object]: ...

    def result(self, *, timeout_s: float | None = None) -> object: ...

    def cancel(self) -> None: ...


class Handle(Protocol):
    """What this module uses of a Serve `DeploymentHandle`."""

    def options(self, *, method_name: str) -> Handle: ...

    def remote(self, *args: object) -> Response: ...


async def _answer(response: Response) -> object:
    return await response


class DeploymentCaller:
    """Calls one deployment's methods through its Serve handle, each call bounded by `timeout_s`."""

    def __init__(self, handle: Handle, deployment: str, *, attempts: int = 2) -> None:
        self._handle = handle
        self.deployment = deployment
        self._attempts = attempts

    def _send(self, method: str, args: tuple[object, ...]) -> Response:
        return self._handle.options(method_name=method).remote(*args)

    async def call(self, method: str, *args: object, timeout_s: float) -> object:
        """The replica's answer; `CallTimeout` past `timeout_s`, `CallLost` when lost on every attempt.

        Cancelling the awaiting task cancels the call (the replica stops waiting for it too)."""
        deadline = time.monotonic() + timeout_s
        attempt = 0
        while True:
            attempt += 1
            response = self._send(method, args)
            try:
                return await asyncio.wait_for(_answer(response), max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                response.cancel()
                raise CallTimeout(f"{self.deployment}.{method}: no answer in {timeout_s:g} s") from None
            except asyncio.CancelledError:
                response.cancel()
                raise
            except Exception as exc:
                error = _classify(exc, self.deployment)
                if error is None:
                    raise
                if not isinstance(error, CallLost) or attempt >= self._attempts:
                    raise error from exc
                log.warning("%s.%s: replica lost (%s); trying another", self.deployment, method, error)
                await asyncio.sleep(min(RETRY_PAUSE_S, max(deadline - time.monotonic(), 0.0)))

    def call_blocking(self, method: str, *args: object, timeout_s: float) -> object:
        """`call` for a thread that runs no event loop (e.g. model loading in `asyncio.to_thread`)."""
        response = self._send(method, args)
        try:
            return response.result(timeout_s=timeout_s)
        except TimeoutError:
            response.cancel()
            raise CallTimeout(f"{self.deployment}.{method}: no answer in {timeout_s:g} s") from None
        except Exception as exc:
            error = _classify(exc, self.deployment)
            if error is None:
                raise
            raise error from exc
