"""The generated role: samples of a model drawn with top-k sampling, cached on disk as MIDI
(symbolic models) or WAV (audio models).

Samples are drawn in fixed chunks of ``CHUNK`` with a seed derived from (seed, k, chunk), so
sample i is the same whatever number of samples is asked for. The cache folder is keyed by
the model's fingerprint, k and the seed. The run and ``leaderboard verify`` both draw through
:func:`generated_pieces` from the same :class:`GeneratedSpec`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from tqdm.auto import tqdm

from curvebench.adapters import Adapter, AudioAdapter, GeneratedSample
from curvebench.cache import RunCaches
from curvebench.data.audio import write_wav
from curvebench.data.piece import Piece
from curvebench.data.sources import GeneratedSpec
from curvebench.errors import ConfigError
from curvebench.pipeline.ranks import ONE, Ranks
from curvebench.pipeline.stages import codes_kept
from curvebench.threads import torch_threads
from curvebench.trace import trace

log = logging.getLogger(__name__)

RECIPE_VERSION = 2
"""Bumped whenever sampling changes what a seed draws (v2: sampled on GENERATION_THREADS), so
samples cached by an older recipe are drawn again."""
GENERATION_THREADS = 1
"""CPU threads the generated role is sampled with, whatever the run's ``--threads``: logits
summed in another order by another number of threads can flip a sampled token, and an audio
model's samples are decoded and encoded again (see ``adapters.code_cache.CODEC_THREADS``), so
the pieces, and what ``verify`` rebuilds from the seed, would depend on the machine."""

CHUNK = 8


def _chunk_seed(seed: int, top_k: int, chunk: int) -> int:
    digest = hashlib.sha256(f"generate|{seed}|{top_k}|{chunk}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _write(sample: GeneratedSample, path: Path, audio: bool, model: str) -> None:
    """A sample as WAV (audio models) or MIDI (symbolic models); a ConfigError names the model
    when its ``generate`` gives anything else."""
    if not isinstance(sample, GeneratedSample) or sample.is_audio != audio:
        wanted = "waveforms" if audio else "scores"
        raise ConfigError(
            f"{model}: generate must return GeneratedSample {wanted}, not {sample!r:.80}"
        )
    if sample.score is not None:
        path.write_bytes(sample.score.dumps_midi())
    else:
        write_wav(path, sample.wave, sample.sampling_rate)


def generated_pieces(
    adapter: Adapter,
    spec: GeneratedSpec,
    dataset: str,
    cache_dir: Path | None = None,
    first: int = 0,
    progress: bool = False,
    ranks: Ranks = ONE,
) -> list[Piece]:
    """Pieces ``first`` to ``spec.n − 1`` of ``adapter``'s samples with top-k sampling,
    generated once and then read from disk under ``cache_dir`` (a run's
    :attr:`RunCaches.generated`; None: the default cache folder's); ``progress`` shows a bar of
    the pieces drawn (the slowest step of a cold run on a CPU). In a multi-device run each
    rank draws (or reads) its share of the chunks and receives the others' pieces."""
    root = cache_dir if cache_dir is not None else RunCaches.of().generated
    folder = (
        Path(root)
        / "generated"
        / adapter.fingerprint()[:16]
        / f"v{RECIPE_VERSION}-k{spec.top_k}-seed{spec.seed}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    audio = isinstance(adapter, AudioAdapter)
    suffix = ".wav" if audio else ".mid"
    every = list(range(first // CHUNK, (spec.n + CHUNK - 1) // CHUNK))
    chunks = ranks.share(every)

    def paths_of(chunk: int) -> list[Path]:
        return [folder / f"{chunk * CHUNK + i:04d}{suffix}" for i in range(CHUNK)]

    missing = [c for c in chunks if not all(p.is_file() for p in paths_of(c))]
    bar = tqdm(
        total=len(missing) * CHUNK,
        desc=f"sampling {adapter.name} top-k={spec.top_k}",
        unit="piece",
        disable=not progress or not missing,
    )
    drawn: dict[int, list[Piece]] = {}
    for chunk in chunks:
        paths = paths_of(chunk)
        drawn[chunk] = []
        if chunk in missing:
            trace("sample", f"{dataset}/chunk{chunk}")
            log.info("sampling %d pieces from %s with top-k=%d", CHUNK, adapter.name, spec.top_k)
            seed = _chunk_seed(spec.seed, spec.top_k, chunk)
            with torch_threads(GENERATION_THREADS):
                samples = adapter.generate(CHUNK, spec.top_k, spec.seconds, seed)
            for path, sample in zip(paths, samples, strict=True):
                # a unique temporary name: processes sampling side by side never collide
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                _write(sample, tmp, audio, adapter.name)  # checks what generate gave first
                if sample.codes_kept is not None:  # before the audio's name: it marks it done
                    side = _kept_path(path)
                    side_tmp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
                    side_tmp.write_text(json.dumps({"codes_kept": sample.codes_kept}))
                    side_tmp.replace(side)
                tmp.replace(path)
            bar.update(CHUNK)
        for index, path in enumerate(paths, chunk * CHUNK):
            if first <= index < spec.n:
                content = path.read_bytes()
                meta = (("top_k", str(spec.top_k)), ("model", adapter.name))
                kept = _read_kept(_kept_path(path))
                if kept is not None:
                    meta += (("codes_kept", f"{kept:.4f}"),)
                drawn[chunk].append(
                    Piece(
                        id=f"k{spec.top_k}/{path.stem}",
                        dataset=dataset,
                        role="generated",
                        midi=b"" if audio else content,
                        audio=content if audio else b"",
                        source=path.name,
                        meta=meta,
                    )
                )
    bar.close()
    drawn = ranks.gather(drawn)
    pieces = [piece for chunk in every for piece in drawn[chunk]]
    kept = codes_kept(pieces)
    if kept is not None and kept < 0.5:
        log.warning(
            "%s: decoding its samples and encoding them again keeps %.0f%% of the codes it drew "
            "(top-k=%d): the generated role is scored on codes the model did not sample",
            adapter.name,
            100 * kept,
            spec.top_k,
        )
    return pieces


def _kept_path(path: Path) -> Path:
    """Where a generated recording's round-trip fraction is kept, beside it."""
    return path.with_name(f"{path.stem}.kept.json")


def _read_kept(path: Path) -> float | None:
    """The round-trip fraction kept beside a recording; None when there is none, and, with a
    warning, when the file does not hold a fraction (a damaged or altered cache file is not
    worth failing a run over: the fraction only describes the samples)."""
    if not path.is_file():
        return None
    try:
        kept = json.loads(path.read_text())["codes_kept"]
        if isinstance(kept, (int, float)) and not isinstance(kept, bool) and 0 <= kept <= 1:
            return float(kept)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    log.warning("%s: not a round-trip fraction; left out", path.name)
    return None
