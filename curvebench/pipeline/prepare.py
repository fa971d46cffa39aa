"""The prepare stage: every piece of every (task, dataset) read, cut, rendered (audio models),
perturbed and encoded, shared out twice over.

- Across a multi-device run's processes (:mod:`curvebench.pipeline.ranks`): each rank takes
  every ``world``-th piece and the ranks then exchange what they made, so each piece is
  prepared once whatever the number of devices.
- Within a process, for audio models, across worker processes (a ``DataLoader``'s): FluidSynth
  renders, waveform perturbations and the codec's encoding of one piece run in a worker while
  the others run theirs. The codec encodes on one thread wherever it runs
  (``adapters.code_cache.CODEC_THREADS``), so a worker's codes are the main process's, bit for
  bit, and on a machine with free cores the workers are what uses them.

Either way the plan is assembled in the pieces' order, so it is the plan one process builds
piece after piece (:func:`curvebench.benchmark.plan.plan_task`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from curvebench.adapters import AudioAdapter
from curvebench.adapters.code_cache import CodeCache
from curvebench.benchmark.encode import ItemEncoder
from curvebench.benchmark.plan import EXAMPLE_PIECES, Plan, Prepared, add_prepared, prepare_piece
from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.data.piece import Piece
from curvebench.data.render import RenderCache
from curvebench.pipeline.ranks import ONE, Ranks
from curvebench.pipeline.stages import Loaded
from curvebench.tasks import TaskConfig

log = logging.getLogger(__name__)

Unit = tuple[int, int]
"""(job, piece): one piece of one (task, dataset) job."""


@dataclass
class _Failed:
    """A worker's failure that is not the item's (raised again in the main process)."""

    error: BaseException


class _Units(Dataset):
    """Prepares one unit per index (in a worker, or in this process)."""

    def __init__(
        self,
        units: list[Unit],
        jobs: list[tuple[TaskConfig, list[Piece]]],
        encoders: list[ItemEncoder],
        limits: Limits,
    ) -> None:
        self.units, self.jobs, self.encoders, self.limits = units, jobs, encoders, limits

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, index: int) -> Prepared | _Failed:
        job, i = self.units[index]
        task, pieces = self.jobs[job]
        try:
            return prepare_piece(
                self.encoders[job], task, pieces[i], self.limits, keep_media=i < EXAMPLE_PIECES
            )
        except Exception as exc:  # the run's, not the item's: raised in the main process
            return _Failed(exc)


def prepare_workers(adapter, threads: int, units: int) -> int:
    """Worker processes the prepare stage uses: one per thread the run may use for an audio
    model (rendering and the codec are most of its run), none for a symbolic model (its
    pieces are read and tokenized faster than a worker starts), never more than the units."""
    if not isinstance(adapter, AudioAdapter) or threads < 2:
        return 0
    return min(threads, units)


def prepare(
    loaded: Loaded,
    progress: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    ranks: Ranks = ONE,
    workers: int = 0,
) -> Plan:
    """Every piece cut, perturbed and encoded: the unique sequences and the pairs using them
    (an audio model's codec codes and the renders kept where ``loaded.caches`` says). This
    rank prepares its share of the pieces, on ``workers`` worker processes (0: here), and
    receives the other ranks'."""
    codes = CodeCache(loaded.caches.codes) if loaded.caches.codes is not None else None
    renders = RenderCache.of(loaded.caches)
    jobs = [
        (task, dataset.pieces)
        for task in loaded.tasks
        for dataset in loaded.datasets
        if dataset.spec.role in task.roles or dataset.spec.role == "custom"
    ]
    units = [(j, i) for j, (_, pieces) in enumerate(jobs) for i in range(len(pieces))]
    mine = ranks.share(units)
    encoders = [ItemEncoder(loaded.adapter, task, codes, renders) for task, _ in jobs]
    dataset = _Units(mine, jobs, encoders, limits)
    workers = min(workers, len(mine))
    loader = DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        collate_fn=lambda prepared: prepared,
        multiprocessing_context="fork" if workers else None,
    )
    where = f" on {workers} workers" if workers else ""
    bar = tqdm(
        total=len(mine),
        desc=f"perturb+encode{where}" + (f" (rank {ranks.rank})" if ranks.world > 1 else ""),
        unit="piece",
        disable=not progress,
    )
    done: dict[Unit, Prepared] = {}
    for unit, prepared in zip(mine, loader, strict=True):
        if isinstance(prepared, _Failed):
            raise prepared.error
        done[unit] = prepared
        bar.update(1)
    bar.close()
    if ranks.world > 1:
        log.info("rank %d prepared %d of %d pieces", ranks.rank, len(mine), len(units))
    done = ranks.gather(done)
    plan = Plan(id_types=loaded.adapter.token_type_names(), workers=workers)
    for job, i in units:
        task, pieces = jobs[job]
        add_prepared(plan, task, pieces[i], done[(job, i)])
    plan.check_any_prepared()
    return plan
