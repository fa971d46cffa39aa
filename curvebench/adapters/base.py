"""The adapter protocol: the only code that knows a model."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from symusic import Score

from curvebench.errors import ConfigError


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


class Adapter(ABC):
    """One model family behind a small interface.

    ``module`` is the ``torch.nn.Module`` to place on a device (the Lightning evaluator does
    that; adapters never call ``.to(device)`` themselves during evaluation).
    """

    name: str = ""
    """Registry name of the adapter."""
    modality: str = "symbolic"
    """symbolic (``encode_score`` takes notes) or audio (``encode_audio(wave, sr, name, codes=
    None)`` takes a mono waveform, notes being rendered first; ``codes``, a run's
    :class:`~curvebench.adapters.code_cache.CodeCache`, keeps the codec's codes by content)."""
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

    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[Score]:
        """``n`` pieces sampled with top-k sampling, each about ``seconds`` long (adapters with
        ``can_generate``)."""
        raise NotImplementedError(f"{self.name} cannot generate")

    @abstractmethod
    def fingerprint(self) -> str:
        """sha256 of weights, tokenizer and config: the cache key's model half."""

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


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a ``dtype=`` option."""
    if name not in DTYPES:
        raise ConfigError(f"dtype={name!r}: use one of {', '.join(DTYPES)}")
    return DTYPES[name]


DEVICES = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "mps": "mps", "auto": None}


def accelerator_for(device: str | None) -> str | None:
    """The Lightning accelerator of a ``device=`` option (cuda → gpu; ``cuda:N`` → ``gpu:N``,
    GPU number N)."""
    if device is None:
        return None
    name, _, index = device.partition(":")
    if name not in DEVICES or (index and not (DEVICES[name] == "gpu" and index.isdigit())):
        raise ConfigError(f"device={device!r}: use one of {', '.join(DEVICES)} or cuda:N")
    if DEVICES[name] is None:
        return None
    accelerator = f"{DEVICES[name]}:{index}" if index else DEVICES[name]
    check_present(accelerator, shown=f"device={device}")
    return accelerator


def check_present(accelerator: str, devices: int = 1, shown: str | None = None) -> None:
    """ConfigError (one line, naming the option as ``shown``) when the accelerator or GPU
    asked for is not on this machine, so a run fails before it loads anything, and not only
    when something is left to score."""
    shown = shown or f"--accelerator/--device {accelerator}"
    name, _, index = accelerator.partition(":")
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


def lightning_devices(accelerator: str, devices: int) -> tuple[str, int | list[int]]:
    """Lightning's ``(accelerator, devices)`` for an accelerator that may name one GPU
    (``cuda:1`` → ``("gpu", [1])``); otherwise ``devices`` is the number of devices."""
    name, _, index = accelerator.partition(":")
    if not index:
        return accelerator, devices
    if devices != 1:
        raise ConfigError(f"{accelerator}: names one GPU; it cannot run on {devices} devices")
    return ("gpu" if name == "cuda" else name), [int(index)]


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
