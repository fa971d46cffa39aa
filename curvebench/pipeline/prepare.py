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

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from curvebench.adapters import AudioAdapter
from curvebench.adapters.base import Encoded
from curvebench.adapters.code_cache import CODEC_BATCH, CodeCache
from curvebench.benchmark.encode import ItemEncoder, PendingAudio, checked, item_failure
from curvebench.benchmark.plan import EXAMPLE_PIECES, Plan, Prepared, add_prepared, prepare_piece
from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.data.piece import Piece
from curvebench.data.render import DEFAULT_SR, RenderCache
from curvebench.data.sources import Skip
from curvebench.errors import CurvebenchError, SkipItem, one_line
from curvebench.pipeline.ranks import ONE, Ranks
from curvebench.pipeline.stages import Loaded
from curvebench.tasks import TaskConfig
from curvebench.trace import trace

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


def codec_device(adapter, accelerator: str, protocol: object | None) -> str | None:
    """The GPU an audio model's codec runs on in the prepare stage: the run's, when it runs on
    one, outside a protocol; None (the CPU, one thread) otherwise. Board runs encode on the CPU
    so that any machine rebuilds their codes exactly when it verifies them."""
    if not isinstance(adapter, AudioAdapter) or protocol is not None:
        return None
    name, _, index = (getattr(adapter, "accelerator", None) or accelerator).partition(":")
    if name not in ("auto", "gpu", "cuda") or not torch.cuda.is_available():
        return None
    return f"cuda:{index or torch.cuda.current_device()}"  # the rank's own, set at launch


def prepare(
    loaded: Loaded,
    progress: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    ranks: Ranks = ONE,
    workers: int = 0,
    codec_device: str | None = None,
) -> Plan:
    """Every piece cut, perturbed and encoded: the unique sequences and the pairs using them
    (an audio model's codec codes and the renders kept where ``loaded.caches`` says). This
    rank prepares its share of the pieces, on ``workers`` worker processes (0: here), and
    receives the other ranks'. With ``codec_device`` (an accelerator), the workers render and
    perturb and this process runs the codec there on batches of clips; otherwise whoever
    prepares a piece encodes it, on one CPU thread."""
    if codec_device is not None:
        loaded.adapter.codec_to(codec_device)
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
    defer = codec_device is not None
    encoders = [ItemEncoder(loaded.adapter, task, codes, renders, defer) for task, _ in jobs]
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
    waiting: list[Unit] = []  # prepared, their codes not yet made (codec on an accelerator)
    pending = 0
    for unit, prepared in zip(mine, loader, strict=True):
        if isinstance(prepared, _Failed):
            raise prepared.error
        done[unit] = prepared
        waiting.append(unit)
        pending += len(_pending(prepared))
        if defer and pending >= 2 * CODEC_BATCH:
            _encode_waiting(loaded.adapter, jobs, done, waiting, codes)
            pending = 0
        bar.update(1)
    if defer:
        _encode_waiting(loaded.adapter, jobs, done, waiting, codes)
    bar.close()
    if ranks.world > 1:
        log.info("rank %d prepared %d of %d pieces", ranks.rank, len(mine), len(units))
    done = ranks.gather(done)
    plan = Plan(
        id_types=loaded.adapter.token_type_names(), workers=workers, codec_device=codec_device
    )
    for job, i in units:
        task, pieces = jobs[job]
        add_prepared(plan, task, pieces[i], done[(job, i)])
    plan.check_any_prepared()
    return plan


def _pending(prepared: Prepared) -> list[tuple[int | None, PendingAudio]]:
    """The waveforms of a prepared piece still to encode: (None for the original, else the
    copy's index, waveform)."""
    out: list[tuple[int | None, PendingAudio]] = []
    if isinstance(prepared.original, PendingAudio):
        out.append((None, prepared.original))
    out += [
        (j, c.encoded) for j, c in enumerate(prepared.copies) if isinstance(c.encoded, PendingAudio)
    ]
    return out


def _encode_waiting(
    adapter: AudioAdapter,
    jobs: list[tuple[TaskConfig, list[Piece]]],
    done: dict[Unit, Prepared],
    waiting: list[Unit],
    codes: CodeCache | None,
) -> None:
    """Encode the waveforms of the ``waiting`` pieces together (batched on the codec's
    device) and put the codes in place; a piece whose original fails is skipped whole, a copy
    that fails is skipped alone, as when each is encoded where it is prepared."""
    slots = [(unit, j, p) for unit in waiting for j, p in _pending(done[unit])]
    owners = {unit: done[unit] for unit in waiting}
    waiting.clear()
    if not slots:
        return
    for _, _, p in slots:
        trace("encode", p.item)
    results = _encode_all(adapter, [p for _, _, p in slots], codes)
    for (unit, j, p), result in zip(slots, results, strict=True):
        task, pieces = jobs[unit[0]]
        piece, prepared = pieces[unit[1]], owners[unit]
        if isinstance(result, Encoded):
            try:
                result = checked(adapter, result, p.name)
            except SkipItem as exc:
                result = exc
        if isinstance(result, Encoded):
            if j is None:
                prepared.original = result
            else:
                prepared.copies[j].encoded = result
            continue
        variant = None if j is None else prepared.copies[j].variant
        skip = Skip(piece.dataset, piece.id, one_line(result), "encode", task.name, variant)
        failed = (skip, not isinstance(result, CurvebenchError))
        if j is None:  # no original, no pairs: the piece is skipped whole
            done[unit] = Prepared(skips=[failed])
        elif done[unit] is prepared:
            prepared.skips.append(failed)
    for prepared in owners.values():  # drop copies that failed
        prepared.copies = [c for c in prepared.copies if isinstance(c.encoded, Encoded)]


def _encode_all(
    adapter: AudioAdapter, pending: list[PendingAudio], codes: CodeCache | None
) -> list[Encoded | Exception]:
    """Codes of every waveform, in batches; when a batch fails, each of its waveforms alone,
    so that one bad waveform fails alone (a failure that is not an item's is raised)."""
    waves, names = [p.wave for p in pending], [p.name for p in pending]
    try:
        return list(adapter.encode_audio_many(waves, DEFAULT_SR, names, codes))
    except Exception as exc:  # a batch too large for the device is tried clip by clip
        if not item_failure(exc) and "OutOfMemoryError" not in type(exc).__name__:
            raise
    out: list[Encoded | Exception] = []
    for wave, name in zip(waves, names, strict=True):
        try:
            out.append(adapter.encode_audio(wave, DEFAULT_SR, name, codes))
        except Exception as exc:
            if not item_failure(exc):
                raise
            out.append(exc)
    return out
