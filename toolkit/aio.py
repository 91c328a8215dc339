"""Running asyncio code from synchronous code, in scripts and in Jupyter alike.

A leaf module (it imports nothing of the toolkit), so every layer may use it: the pull pipeline, the comparisons'
on-chain reads, the crash replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code, also inside Jupyter.

    Jupyter already runs an event loop in the notebook's thread, where ``asyncio.run`` is refused;
    the coroutine then runs on its own loop in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
