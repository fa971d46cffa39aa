"""Loading a Hugging Face causal LM, its context, per-token loss and fingerprint: shared by the
adapters whose models are plain causal LMs over their own token streams (hf-causal,
anticipation, hf-abc, yue)."""

from __future__ import annotations

import pickle

import torch

from curvebench.adapters.base import config_bytes, hash_state, torch_dtype
from curvebench.errors import ConfigError, one_line

COMMON_OPTIONS = {
    "path": "model folder or hub id (required)",
    "revision": "hub revision (branch, tag or commit)",
    "dtype": "float32 | bfloat16 | float16 (default float32)",
    "device": "cpu | cuda | mps | auto (default: the run's --accelerator)",
    "attn": "attention kernel: auto | sdpa | eager | flash_attention_2 (default auto)",
    "name": "display name in results (default: the adapter's name)",
}
"""Options every causal-LM adapter takes."""


def truthy(value: str | bool) -> bool:
    """A spec option read as a boolean (``true``, ``1``, ``yes``)."""
    return str(value).lower() in ("1", "true", "yes")


def load_causal_lm(
    path: str,
    revision: str | None = None,
    dtype: str = "float32",
    trust_remote_code: str | bool = False,
    attn: str = "auto",
) -> torch.nn.Module:
    """``AutoModelForCausalLM`` from a folder or hub id, in eval mode, with the attention
    kernel :func:`with_attention` picks; a one-line ConfigError names the path when it cannot
    be loaded (a missing folder or config, a config that asks for remote code, unsafe
    weights)."""
    from transformers import AutoModelForCausalLM

    torch_type = torch_dtype(dtype)
    try:
        model = with_attention(
            AutoModelForCausalLM.from_pretrained,
            attn,
            dtype,
            path,
            revision=revision,
            dtype=torch_type,
            use_safetensors=None,  # safetensors when there, else torch.load(weights_only)
            trust_remote_code=truthy(trust_remote_code),
        )
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        raise ConfigError(
            f"model path {path!r}: cannot load it as a Hugging Face causal LM ({one_line(exc)})"
        ) from exc
    return model.eval()


ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")
"""The ``attn=`` option's values: transformers' ``attn_implementation``, or ``auto``."""


def with_attention(load, attn: str, weights: str, *args, **kwargs) -> torch.nn.Module:
    """``load(*args, **kwargs)`` (a ``from_pretrained``) with the attention kernel ``attn``
    names, ``weights`` the ``dtype=`` option. ``auto``: FlashAttention-2 where it can run (a
    CUDA GPU, the ``flash_attn`` package, half-precision weights) and the model has it, else
    transformers' own choice, which is PyTorch's scaled-dot-product attention (its flash and
    memory-efficient kernels on a GPU) for every model that has it, else the eager one. The
    kernel a model runs is recorded in results (``env.attention``)."""
    if attn not in ATTENTION:
        raise ConfigError(f"attn={attn!r}: use one of {', '.join(ATTENTION)}")
    if attn != "auto":
        return load(*args, attn_implementation=attn, **kwargs)
    if flash_attention_usable(weights):
        try:
            return load(*args, attn_implementation="flash_attention_2", **kwargs)
        except (ValueError, ImportError):  # a model without it: transformers' choice
            pass
    return load(*args, **kwargs)


def flash_attention_usable(dtype: str) -> bool:
    """Whether FlashAttention-2 can run here for weights of ``dtype``."""
    import importlib.util

    return (
        dtype in ("bfloat16", "float16")
        and torch.cuda.is_available()
        and importlib.util.find_spec("flash_attn") is not None
    )


def context_of(model: torch.nn.Module, path: str) -> int:
    """The model's context length from its config."""
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model.config, key, None)
        if value:
            return int(value)
    raise ConfigError(f"{path}: cannot tell the model's context length from its config")


def next_token_nll(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits [B, T, V] of ids [B, T] → [B, T-1]: ``out[b, i] = -log p(ids[b, i+1] |
    ids[b, :i+1])`` in nats; 0 where the target is padding."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    return nll.masked_fill(~mask[:, 1:], 0.0)


def model_fingerprint(model: torch.nn.Module, *extra: bytes) -> str:
    """sha256 over weights, config and any extra bytes (tokenizer, options)."""
    return hash_state(model, config_bytes(model.config), *extra)


class CausalLMParts:
    """The ``module``, ``context_length``, ``logits`` and ``loss`` of an adapter that holds a
    Hugging Face causal LM in ``self.model``, loaded from ``self.path`` (mixed in before
    :class:`Adapter`)."""

    model: torch.nn.Module
    path: str

    @property
    def module(self) -> torch.nn.Module:
        """The model, for the evaluator to place."""
        return self.model

    @property
    def context_length(self) -> int:
        """The model's context, from its config."""
        return context_of(self.model, self.path)

    def logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Next-token logits [B, T, V] of a right-padded batch."""
        return self.model(input_ids=ids, attention_mask=mask.long()).logits

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids [B, T] → [B, T-1]: the next-token loss in nats, 0 where the target is padding."""
        return next_token_nll(self.logits(ids, mask), ids, mask)
