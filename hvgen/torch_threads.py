"""CPU work whose bytes depend on one item alone: one item at a time, at one torch thread.

Why: on CPU, the bits of a value depend on how a kernel splits its work, and padding a batch to
a fixed shape does not fix the splits. Measured with torch 2.14 / MKL 2024.2 (issue 21):

- MKL's AVX2 sgemm — what CPUs without AVX-512, such as AMD EPYC Zen 2/3, run — rounds a row
  of ``A @ B`` differently depending on its position among A's rows, even single-threaded (rows
  of the 17-token blocks of a tiny CLIP at batch positions 3, 5, 7 of 8 differ from position 0).
- MKL splits large products across threads: CLIP-L's 257×4096 @ 4096×1024 differs between 1
  and 2 threads even on the AVX-512 path.
- ATen's vectorised elementwise loops compute the last elements of each thread's chunk with the
  scalar function: ``sigmoid`` (CLIP's quick_gelu) differs in the last bit at 3 threads.

So an adversarial sample attacked in a padded batch of 8 came out with other bytes depending on
its neighbours and the thread count (CI's AMD EPYC), and a tiny-SDXL image rendered in a padded
batch of 4 depends on its batch position at 3 threads even on AVX-512. An item computed alone
(a batch of one) at one thread runs the same kernels on the same data every time. MKL's
``MKL_CBWR=AUTO,STRICT`` removes the first two for sgemm only (not ATen's loops, oneDNN or other
BLAS builds), and must be set before the process starts, so it is not relied on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

__all__ = ["map_one_thread_each", "torch_threads"]

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count (OpenMP, MKL, oneDNN) set to `count` for the block."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_one_thread_each(
    function: Callable[[T], R], items: Sequence[T], workers: int | None = None
) -> list[R]:
    """`function(item)` for every item, in order, each call at one torch thread; up to `workers`
    calls (default: torch's thread count) side by side on a thread pool — torch releases the GIL
    inside its kernels, so heavy models still use every core. `function` must be thread-safe
    (no shared mutable state, no global RNG)."""
    workers = max(1, min(workers or torch.get_num_threads(), len(items)))
    with torch_threads(1):
        if workers == 1:
            return [function(item) for item in items]
        # each pool thread sets its own OpenMP / MKL count (they are per thread)
        with ThreadPoolExecutor(
            workers, "hvgen-torch", initializer=torch.set_num_threads, initargs=(1,)
        ) as pool:
            return list(pool.map(function, items))
