"""The adapter protocol: the only code that knows a model."""

from __future__ import annotations

import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from symusic import Score

from curvebench.data.render import DEFAULT_RENDER, RenderSetting
from curvebench.errors import ConfigError

if TYPE_CHECKING:
    from curvebench.adapters.code_cache import CodeCache


@dataclass(frozen=True)
class Encoded:
    """A piece as the model sees it."""

    ids: np.ndarray
    """int64 token ids fed to the model, [T] (symbolic) or [K, T] (audio)."""
    seconds: np.ndarray
    """float64 [T]: time in seconds of every token."""
    duration_s: float | None = None
    """Length of the encoded music in seconds (end of its last note), when known."""
    first_target: int = 1
    """First time step whose loss the model gives: 1 when ids start with a BOS that is never
    predicted (symbolic), 0 when every step is predicted (audio codes after the decoder's own
    start token). Losses have length T − first_target and belong to seconds[first_target:]."""

    @property
    def target_seconds(self) -> np.ndarray:
        """Time of each scored step."""
        return self.seconds[self.first_target :]

    @property
    def length(self) -> int:
        """Number of time steps."""
        return int(self.ids.shape[-1])

    @property
    def sha256(self) -> str:
        """Hash of the ids (the cache key's input half)."""
        return hashlib.sha256(np.ascontiguousarray(self.ids, dtype=np.int64).tobytes()).hexdigest()


@dataclass(frozen=True, eq=False)
class GeneratedSample:
    """One piece a model sampled: notes (symbolic models) or a mono waveform (audio models)."""

    score: Score | None = None
    """The sampled notes; None for a waveform."""
    wave: np.ndarray | None = None
    """float32 mono audio [samples] in [-1, 1]; None for notes."""
    sampling_rate: int | None = None
    """Hz of ``wave``; None for notes."""
    codes_kept: float | None = None
    """An audio model that samples codes: the fraction of them that encoding ``wave`` again
    gives back (None when not measured)."""

    def __post_init__(self) -> None:
        if (self.score is None) == (self.wave is None):
            raise ValueError("a generated sample holds either a score or a waveform")
        if self.wave is not None:
            if self.wave.ndim != 1:
                raise ValueError(f"a generated waveform is mono, not of shape {self.wave.shape}")
            if not self.sampling_rate or self.sampling_rate <= 0:
                raise ValueError("a generated waveform needs its sampling rate")

    @property
    def is_audio(self) -> bool:
        """True for a waveform, False for notes."""
        return self.wave is not None


class Adapter(ABC):
    """One model family behind a small interface.

    ``module`` is the ``torch.nn.Module`` to place on a device (the Lightning evaluator does
    that; adapters never call ``.to(device)`` themselves during evaluation).
    """

    name: str = ""
    """Registry name of the adapter."""
    modality: str = "symbolic"
    """symbolic (``encode_score`` takes notes) or audio (an :class:`AudioAdapter`)."""
    supports_prefix: ClassVar[bool] = False
    """True when ``loss_from_prefix(prefix, continuations, mask)`` scores several sequences that
    share their first tokens from one pass over them (a key-value cache); the losses equal
    scoring each from scratch."""
    can_generate: ClassVar[bool] = False
    """True when ``generate`` samples pieces (for the generated role)."""
    accelerator: str | None = None
    """Lightning accelerator the user asked for (``cpu``, ``gpu``, ``mps``); None: the run's."""

    @property
    @abstractmethod
    def module(self) -> torch.nn.Module:
        """The model's parameters, for the evaluator to place."""

    @property
    def attention(self) -> str | None:
        """The attention kernel the model runs (transformers' ``attn_implementation``: sdpa,
        eager, flash_attention_2, ...), or None for a model without one; in results'
        ``env``."""
        config = getattr(getattr(self, "module", None), "config", None)
        found = getattr(config, "_attn_implementation", None)
        decoder = getattr(config, "decoder", None)  # composite models: the decoder's
        found = getattr(decoder, "_attn_implementation", None) or found
        return str(found) if found else None

    @property
    @abstractmethod
    def context_length(self) -> int:
        """Longest sequence the model scores in one pass (longer ones use rolling windows)."""

    @property
    @abstractmethod
    def pad_id(self) -> int:
        """Id used to pad batches (never scored)."""

    @abstractmethod
    def encode_score(self, score: Score, name: str) -> Encoded:
        """Token ids and times of a score."""

    @abstractmethod
    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token loss in nats.

        Symbolic: ids [B, T] → [B, T-1], ``out[b, i] = -log p(ids[b, i+1] | ids[b, :i+1])``.
        Audio: codes [B, K, T] → [B, K, T], ``out[b, k, t]`` = loss of code t of codebook k.
        ``mask`` [B, T] is True on real steps; losses whose target is padding are 0.
        """

    def loss_from_prefix(
        self, prefix: torch.Tensor, continuations: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Adapters with ``supports_prefix``: the losses of sequences that share ``prefix`` [P],
        from one pass over it: the prefix's [P-1] and the continuations' [n, S]. Audio codes:
        ``prefix`` [K, P] frames, continuations [n, K, S], and the prefix frames' losses per
        sequence, [n, K, P] (a codebook's last prefix codes may be predicted after a change)."""
        raise NotImplementedError(f"{self.name} cannot score from a shared prefix")

    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        """``n`` pieces sampled with top-k sampling, each about ``seconds`` long (adapters with
        ``can_generate``): scores from a symbolic model, waveforms from an audio one."""
        raise NotImplementedError(f"{self.name} cannot generate")

    _fingerprint: str | None = None

    def fingerprint(self) -> str:
        """sha256 of weights, tokenizer and config: the cache key's model half. Computed once
        per adapter (by :meth:`compute_fingerprint`): its weights are fixed while it lives."""
        if self._fingerprint is None:
            self._fingerprint = self.compute_fingerprint()
        return self._fingerprint

    @abstractmethod
    def compute_fingerprint(self) -> str:
        """The hash :meth:`fingerprint` returns, computed from the weights."""

    def settings(self) -> dict[str, str]:
        """Options that change what is scored but not the weights (MusicGen's layout and
        condition), recorded in results.json."""
        return {}

    def token_type_names(self) -> list[str] | None:
        """Type of every vocabulary id (``Pitch``, ``Velocity``, ``Duration``, ...; list index
        = id) for tokenizers with typed tokens, so results can split the loss by type; None
        when the tokens have no types."""
        return None

    def num_parameters(self) -> int:
        """Number of model parameters."""
        return sum(p.numel() for p in self.module.parameters())


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""The ``dtype=`` option's values."""


class AudioAdapter(Adapter):
    """An adapter whose model reads audio: notes are rendered first, and waveforms (files,
    renders, the audio perturbations' output) are encoded by :meth:`encode_audio`."""

    modality = "audio"

    @property
    @abstractmethod
    def sampling_rate(self) -> int:
        """Hz of the waveforms the model reads and generates."""

    def render_setting(self) -> RenderSetting:
        """How the model hears MIDI: the render it was trained with (soundfont by name and
        sha256, gain, level), used exactly, whatever else is installed."""
        return DEFAULT_RENDER

    @abstractmethod
    def encode_audio(
        self,
        wave: np.ndarray,
        sr: int,
        name: str,
        codes: CodeCache | None = None,
        like: np.ndarray | None = None,
    ) -> Encoded:
        """Codes of a waveform ([samples] or [samples, channels]) at ``sr`` Hz; ``codes``, a
        run's :class:`~curvebench.adapters.code_cache.CodeCache`, keeps the codec's codes by
        content (None: encode every time). ``like``: the waveform a perturbed copy was made
        from, whose work a codec may reuse where the two agree; never changes the codes."""

    def encode_audio_many(
        self, waves: list[np.ndarray], sr: int, names: list[str], codes: CodeCache | None = None
    ) -> list[Encoded]:
        """:meth:`encode_audio` of each waveform; codecs that can run batches override it
        (with the same codes as one at a time)."""
        return [self.encode_audio(w, sr, n, codes) for w, n in zip(waves, names, strict=True)]

    def codec_to(self, device: str) -> None:
        """Run the codec on ``device`` (a torch device); adapters with a torch codec move it."""


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a ``dtype=`` option."""
    if name not in DTYPES:
        raise ConfigError(f"dtype={name!r}: use one of {', '.join(DTYPES)}")
    return DTYPES[name]


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
"""What ``--accelerator``, ``--device`` and a model's ``device=`` option take (Lightning's
accelerators; ``cuda:N`` or ``gpu:N`` is GPU number N)."""


def check_accelerator(
    accelerator: str, devices: int = 1, num_nodes: int = 1, shown: str | None = None
) -> str:
    """The Lightning accelerator an ``--accelerator``/``--device`` value or a model's
    ``device=`` names (``cuda`` → ``gpu``, ``cuda:N`` → ``gpu:N``). A one-line ConfigError,
    naming the option as ``shown``, refuses one outside :data:`ACCELERATORS`, a GPU number
    with more than one device, and an accelerator or GPU (``devices`` per node) this machine
    lacks, so a run fails before it loads anything, and not only when something is left to
    score."""
    shown = shown or f"--accelerator {accelerator}"
    name, _, index = accelerator.partition(":")
    if name not in ACCELERATORS or (index and not (name in ("gpu", "cuda") and index.isdigit())):
        raise ConfigError(
            f"{shown}: use one of {', '.join(ACCELERATORS)} (cuda:N for GPU number N)"
        )
    if index and devices * num_nodes > 1:
        raise ConfigError(f"{shown}: one GPU; drop --devices")
    if name in ("gpu", "cuda"):
        found = torch.cuda.device_count()
        if found == 0:
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise ConfigError(
                f"{shown}: no CUDA GPU on this machine (torch "
                f"{torch.__version__}, {build}); use cpu or auto"
            )
        wanted = int(index) + 1 if index else devices
        if wanted > found:
            raise ConfigError(
                f"{shown}: this machine has {found} GPU"
                f"{'s' if found > 1 else ''} (cuda:0 to cuda:{found - 1})"
                + ("" if index else f"; give --devices {found} or fewer")
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{shown}: no Apple MPS device here")
    name = "gpu" if name == "cuda" else name
    return f"{name}:{index}" if index else name


def accelerator_for(device: str | None) -> str | None:
    """The Lightning accelerator of a model's ``device=`` option (:func:`check_accelerator`);
    None when there is none or it is ``auto`` (the run's accelerator then)."""
    if device is None:
        return None
    accelerator = check_accelerator(device, shown=f"device={device}")
    return None if accelerator == "auto" else accelerator


def lightning_devices(accelerator: str, devices: int) -> tuple[str, int | list[int]]:
    """Lightning's ``(accelerator, devices)`` for an accelerator that may name one GPU
    (``cuda:1`` → ``("gpu", [1])``); otherwise ``devices`` is the number of devices."""
    name, _, index = accelerator.partition(":")
    if not index:
        return accelerator, devices
    if devices != 1:
        raise ConfigError(f"{accelerator}: names one GPU; it cannot run on {devices} devices")
    return ("gpu" if name == "cuda" else name), [int(index)]


VOLATILE_CONFIG_KEYS = ("_name_or_path", "transformers_version", "_commit_hash")
"""Config entries that say where and with which library release a model was loaded, not what
it computes: left out of fingerprints, so a model has one fingerprint wherever it lies."""


def config_bytes(config: object) -> bytes:
    """A transformers config as sorted JSON without :data:`VOLATILE_CONFIG_KEYS` (at any
    depth: composite models nest sub-configs)."""

    def stable(value: object) -> object:
        if isinstance(value, dict):
            return {k: stable(v) for k, v in value.items() if k not in VOLATILE_CONFIG_KEYS}
        if isinstance(value, list):
            return [stable(v) for v in value]
        return value

    data = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    return json.dumps(stable(data), sort_keys=True, default=str).encode()


def with_cache(model: torch.nn.Module, cache: object) -> dict[str, object]:
    """The keyword that hands a key-value cache to ``model``'s forward: ``cache`` in the
    transformers releases that have it (``past_key_values`` is deprecated there and goes in
    5.40), ``past_key_values`` in the older ones the package allows."""
    params = inspect.signature(model.forward).parameters
    return {"cache" if "cache" in params else "past_key_values": cache}


def cache_of(out: object) -> object:
    """The key-value cache a transformers forward returned (``cache``, or
    ``past_key_values`` in older releases)."""
    return out["cache"] if "cache" in out else out["past_key_values"]


def hash_state(module: torch.nn.Module, *extra: bytes) -> str:
    """sha256 over a module's state dict (names, dtypes, shapes, values) and extra bytes."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    for blob in extra:
        h.update(blob)
    return h.hexdigest()
