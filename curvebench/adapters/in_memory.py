"""Models already in memory: a transformers causal LM, or any ``nn.Module`` that maps token ids
to next-token logits, each with its miditok tokenizer.

Both reuse :class:`~curvebench.adapters.hf_causal.HFCausalAdapter`'s tokenization and loss,
so a model scores the same in memory as saved and loaded through ``hf-causal:path=DIR``.

The protocol of a plain module: ``module(ids)`` with ids a LongTensor [B, T] (right-padded,
BOS first) returns logits [B, T, V] (a tensor, or an object with ``.logits``), position t
predicting token t + 1; ``V`` covers the tokenizer's vocabulary. Its context length is given,
or read from ``module.context_length`` or ``module.config`` (``n_positions``, ...).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from miditok import MusicTokenizer

from curvebench.adapters.base import Adapter, config_bytes, hash_state
from curvebench.adapters.hf_causal import HFCausalAdapter
from curvebench.errors import ConfigError

CONFIG_CONTEXT_KEYS = ("n_positions", "max_position_embeddings", "n_ctx")


class TransformersModelAdapter(HFCausalAdapter):
    """A ``transformers`` causal LM object (``PreTrainedModel``) and its miditok tokenizer.

    ``place=False`` leaves the model where it is (a model being trained): the evaluator's
    Trainer is given no parameters to move, scores on the model's own device, and the model is
    switched to eval mode only while it scores.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: MusicTokenizer,
        name: str = "in-memory",
        context_length: int | None = None,
        place: bool = True,
        hash_weights: bool = True,
    ) -> None:
        # the model is given, not loaded: HFCausalAdapter.__init__'s loading is skipped
        self.model = model
        self.name = name
        self.path = name
        self.accelerator = None
        self.place = place
        self.hash_weights = hash_weights
        self._context = context_length
        self._holder = torch.nn.Module()
        if not isinstance(tokenizer, MusicTokenizer):
            raise ConfigError(
                f"{name}: the tokenizer must be a miditok MusicTokenizer, not "
                f"{type(tokenizer).__name__}"
            )
        self._set_tokenizer(tokenizer)

    @property
    def module(self) -> torch.nn.Module:
        return self.model if self.place else self._holder

    @property
    def context_length(self) -> int:
        if self._context:
            return int(self._context)
        value = getattr(self.model, "context_length", None)
        config = getattr(self.model, "config", None)
        for key in CONFIG_CONTEXT_KEYS:
            value = value or getattr(config, key, None)
        if not value:
            raise ConfigError(
                f"{self.name}: cannot tell the model's context length; pass context_length="
            )
        return int(value)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def compute_fingerprint(self) -> str:
        config = getattr(self.model, "config", None)
        blob = config_bytes(config).decode()
        blob += f"|{type(self.model).__qualname__}|{self.context_length}"
        if not self.hash_weights:  # weights that change every step: nothing is cached on it
            digest = hashlib.sha256(blob.encode() + self._tokenizer_blob).hexdigest()
            return f"unhashed-{digest}"
        return hash_state(self.model, blob.encode(), self._tokenizer_blob)

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with scoring_mode(self.model, not self.place):
            return super().loss(ids, mask)

    def loss_from_prefix(
        self, prefix: torch.Tensor, continuations: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with scoring_mode(self.model, not self.place):
            return super().loss_from_prefix(prefix, continuations, mask)


class ModuleAdapter(TransformersModelAdapter):
    """Any ``nn.Module`` behind the module protocol (see the module docstring)."""

    supports_prefix = False
    can_generate = False

    def logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.model(ids)
        return out.logits if hasattr(out, "logits") else out


@contextmanager
def scoring_mode(model: torch.nn.Module, switch: bool = True) -> Iterator[None]:
    """Eval mode inside the block, each submodule's own mode restored after (when
    ``switch``; otherwise the evaluator's Trainer handles the mode)."""
    if not switch:
        yield
        return
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def kept_in_place(model: torch.nn.Module) -> Iterator[None]:
    """Put a model back on its device and in its modes after the evaluator's Trainer (whose
    teardown moves the module it placed to the CPU)."""
    params = next(iter(model.parameters()), None)
    device = params.device if params is not None else None
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        if device is not None and next(model.parameters()).device != device:
            model.to(device)
        for m, training in modes:
            m.training = training


def as_adapter(
    model: Any,
    tokenizer: MusicTokenizer | None = None,
    name: str | None = None,
    context_length: int | None = None,
    place: bool = True,
    hash_weights: bool = True,
) -> Adapter | str:
    """A model spec string or an ``Adapter`` as given; a model object (or a ``(model,
    tokenizer)`` pair) wrapped in the adapter for it."""
    if isinstance(model, tuple) and len(model) == 2 and tokenizer is None:
        model, tokenizer = model
    if isinstance(model, str | Adapter):
        if tokenizer is not None:
            raise ConfigError("a tokenizer goes with a model object, not with a spec or adapter")
        return model
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            f"model: give a spec string, an Adapter, or an nn.Module with its tokenizer, not "
            f"{type(model).__name__}"
        )
    if tokenizer is None:
        raise ConfigError(f"{type(model).__name__}: pass its miditok tokenizer (tokenizer=...)")
    try:
        from transformers import PreTrainedModel

        hf = isinstance(model, PreTrainedModel)
    except ImportError:  # pragma: no cover - transformers is a dependency
        hf = False
    cls = TransformersModelAdapter if hf else ModuleAdapter
    default = getattr(getattr(model, "config", None), "model_type", None) or type(model).__name__
    name = name or f"{default}-in-memory"
    return cls(model, tokenizer, name, context_length, place, hash_weights)
