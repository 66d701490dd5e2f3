"""CPU thread budget for torch work (training, adapters, gap metric), set once for the whole command.

Why: torch starts one thread per core. Beside another busy process (a second training, a render),
its threads wait on each other at every parallel region: an `adapt train` step measured 22 s with the
default threads next to a benchmark training, and 1.1 s with one thread. `scenesmith --threads N`
gives a command its share of the cores without the user knowing OMP_NUM_THREADS.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(count: int) -> None:
    """Give torch `count` intra-op threads, in this process and in any worker process it starts.

    The environment reaches torch when it is imported later (commands import it lazily) and reaches
    child processes; a torch already imported is set directly.
    """
    if count < 1:
        raise ValueError(f"thread count must be >= 1, got {count}")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(count)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
