"""The Ray engine's replicas behind in-process handles, for tests that need no cluster.

`LocalHandle` has the surface of a Serve `DeploymentHandle` that the engine uses (`options(method_name=…)`,
`remote(*args)` → a response to await, `.result(timeout_s=…)` or `.cancel()`). Calls run on a loop thread of
their own, as Serve's router runs on its own loop, and every argument and answer is pickled both ways, as
Ray would. Failures are injected as the exceptions Ray itself raises; `hang` calls never answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle
import threading
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="local-handles", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class LocalResponse:
    def __init__(self, future: concurrent.futures.Future[Any], record: list[str]) -> None:
        self._future = future
        self._record = record

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self._future).__await__()

    def result(self, *, timeout_s: float | None = None) -> Any:
        return self._future.result(timeout_s)

    def cancel(self) -> None:
        self._record.append("cancel")
        self._future.cancel()


@dataclass
class Faults:
    """What the next calls meet: an exception each (popped in order), or, with `hang`, no answer ever."""

    errors: list[BaseException] = field(default_factory=list)
    hang: bool = False
    calls: list[str] = field(default_factory=list)  # method names, then "cancel" for each cancelled call


async def _run(method: Callable[..., Awaitable[Any]], payload: bytes) -> Any:
    answer = await method(*pickle.loads(payload))
    return pickle.loads(pickle.dumps(answer))


class LocalHandle:
    def __init__(self, target: object, loop: LoopThread, faults: Faults, method: str = "__call__") -> None:
        self._target = target
        self._loop = loop
        self.faults = faults
        self._method = method

    def options(self, *, method_name: str) -> LocalHandle:
        return LocalHandle(self._target, self._loop, self.faults, method_name)

    def remote(self, *args: object) -> LocalResponse:
        self.faults.calls.append(self._method)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self.faults.errors:
            future.set_exception(self.faults.errors.pop(0))
        elif not self.faults.hang:
            method = getattr(self._target, self._method)
            coroutine = _run(method, pickle.dumps(args))
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop.loop)
        return LocalResponse(future, self.faults.calls)
