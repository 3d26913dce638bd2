"""Several processes (torchrun ranks, Slurm tasks) sharing one image-encoding job.

torchrun describes the job in the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT); on Slurm, `srun` starts one torchrun per node (docs/concepts.md). SLURM_* variables
are deliberately not read: a batch script's own step has SLURM_NTASKS > 1 too, and would wait
for ranks that never come. Features travel through the shared on-disk cache, not through
collectives, so the process group only has to agree on errors and counts: it is always gloo
(works on CPU-only nodes, next to NCCL-free CUDA code, and across nodes over TCP).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from turkops.domain import InputError


@dataclass(frozen=True, slots=True)
class ShardStats:
    n_encoded: int
    n_cached: int
    encode_seconds: float  # the slowest rank's encoding loop


@dataclass(frozen=True, slots=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def bounds(self, n: int, unit: int = 1) -> tuple[int, int]:
        """[start, stop) of this rank's contiguous slice of n items, cut at multiples of `unit`.

        Slices hold whole units (the last one may be short); their unit counts differ by <= 1.
        Cutting at batch boundaries makes every batch the same as in a single-process run, so
        the results are bit-identical (batched kernels may round differently for another batch).
        """
        units = -(-n // unit)
        first = units * self.rank // self.world_size
        last = units * (self.rank + 1) // self.world_size
        return min(n, first * unit), min(n, last * unit)

    def device(self, device: str) -> str:
        """With several ranks on a node, "auto"/"cuda" means this rank's own GPU."""
        if not self.distributed or device not in ("auto", "cuda"):
            return device
        import torch

        if not torch.cuda.is_available():
            return device
        return f"cuda:{self.local_rank % torch.cuda.device_count()}"

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


def ranks_from_env(env: Mapping[str, str] | None = None) -> Ranks:
    """This process's place in the job; Ranks() (a single process) when nothing says else."""
    env = os.environ if env is None else env

    def number(*names: str, default: int) -> int:
        for name in names:
            value = env.get(name, "").strip()
            if value:
                try:
                    return int(value)
                except ValueError:
                    raise InputError(f"{name}={value!r} is not an integer") from None
        return default

    world = number("WORLD_SIZE", default=1)
    rank = number("RANK", default=0)
    local = number("LOCAL_RANK", default=0)
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"rank {rank} of world size {world} is impossible")
    return Ranks(rank, world, local)


@contextmanager
def process_group(ranks: Ranks, timeout_minutes: float = 60.0) -> Iterator[Ranks]:
    """Join the job's gloo process group for the block (nothing to do for a single process).

    The timeout bounds how long finished ranks wait for the slowest one.
    """
    if not ranks.distributed:
        yield ranks
        return
    import torch.distributed as dist

    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise InputError(f"{' and '.join(missing)} must be set for a {ranks.world_size}-process "
                         "run (start it with torchrun, see docs/concepts.md)")
    dist.init_process_group("gloo", init_method="env://", rank=ranks.rank,
                            world_size=ranks.world_size,
                            timeout=datetime.timedelta(minutes=timeout_minutes))
    try:
        yield ranks
    except BaseException:
        dist.destroy_process_group()
        raise
    # Leave together: a rank that tears its gloo connections down while a peer may still be
    # using them can abort ("terminate called without an active exception", SIGABRT), which
    # was seen once on a non-main rank that finished long before rank 0 had merged.
    dist.barrier()
    dist.destroy_process_group()


def gather_shard_stats(ranks: Ranks, mine: ShardStats, error: str | None) -> ShardStats:
    """Totals over ranks (every rank gets them); raises InputError on every rank if any failed."""
    if not ranks.distributed:
        if error is not None:
            raise InputError(error)
        return mine
    import torch.distributed as dist

    everyone: list[tuple[ShardStats, str | None] | None] = [None] * ranks.world_size
    dist.all_gather_object(everyone, (mine, error))
    failures = [(r, e) for r, item in enumerate(everyone) if item is not None
                for e in [item[1]] if e is not None]
    if failures:
        r, message = failures[0]
        raise InputError(message if r == ranks.rank else f"rank {r}: {message}")
    stats = [item[0] for item in everyone if item is not None]
    return ShardStats(sum(s.n_encoded for s in stats), sum(s.n_cached for s in stats),
                      max(s.encode_seconds for s in stats))
