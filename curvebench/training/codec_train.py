"""Training the audio reference's codec end to end: EnCodec's architecture, learned.

The codec is transformers' ``EncodecModel`` (32 kHz, hop 640 = 50 frames per second, a
residual vector quantiser of 4 codebooks × 2048 entries: MusicGen's token layout), trained on
one-second crops of rendered training audio as EnCodec was, without its adversarial losses:

- reconstruction: an L1 loss on the waveform and, at four STFT sizes (256 to 2048 points),
  L1 losses on the mel spectrogram and on its logarithm (the multi-scale spectral loss);
- the residual quantiser: each codebook quantises what the ones before it left; gradients pass
  it straight through, a commitment loss pulls the encoder's output to its codes, and the
  codebooks learn by exponential moving averages of the vectors assigned to them (the buffers
  ``EncodecModel`` already holds: ``embed``, ``embed_avg``, ``cluster_size``); an entry that
  stops being used is moved onto a vector of the current batch (dead-code refresh), so all
  2048 entries of every codebook stay in use.

The trained codec is saved as a plain ``EncodecModel`` state, so ``EncodecModel.encode`` and
``decode`` (and MusicGen's ``from_pretrained``) use it unchanged.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from transformers import EncodecModel
from transformers.audio_utils import mel_filter_bank

from curvebench.training.audio_codec import (
    BANDWIDTH,
    NUM_CODEBOOKS,
    SAMPLING_RATE,
    codebook_perplexity,
    codec_config,
)
from curvebench.training.lm_module import warmup_cosine


@dataclass(frozen=True)
class CodecRecipe:
    """Architecture and optimisation of the audio reference's codec."""

    hidden: int = 64
    """Dimension of the encoder's output and of every codebook entry."""
    filters: int = 8
    """Channels of the first convolution (doubled at each of the 4 downsamplings)."""
    lstm_layers: int = 2
    """LSTM layers after the encoder's convolutions and before the decoder's."""
    segment: float = 1.0
    """Seconds of audio per training crop."""
    batch_size: int = 8
    """Crops per step."""
    lr: float = 1e-3
    """Peak learning rate (Adam; linear warm-up, cosine decay to a tenth)."""
    warmup: int = 100
    """Warm-up steps."""
    max_steps: int = 4000
    """Optimizer steps."""
    wave_weight: float = 1.0
    """Weight of the waveform L1 loss (the spectral losses weigh 1)."""
    commit_weight: float = 1.0
    """Weight of the commitment loss."""
    decay: float = 0.99
    """Moving-average decay of the codebooks."""
    dead_fraction: float = 0.25
    """An entry whose moving-average use falls below this fraction of an even share of a
    batch's vectors is refreshed."""
    consistency_weight: float = 1.0
    """Weight of the re-encoding loss: the decoded audio, encoded again, should land on the
    codes it was decoded from (relative squared error), so codes survive decode → encode."""
    tune_steps: int = 1500
    """Steps of the second phase: the decoder alone, the encoder and codebooks frozen (so
    every code stays what it was), trained to make its audio encode back to its codes: the
    re-encoding loss there is measured against the encoder's own output and in units of
    the quantiser's last residual, the size of the cells a code must stay in."""
    tune_lr: float = 3e-4
    """Peak learning rate of the second phase."""
    own_steps: int = 1500
    """Steps of the ``own`` stage (after the decoder LM is trained): the codec's decoder alone
    again, now also on crops of codes the LM sampled (its own music), so that what the model
    samples survives decode → encode. On real crops the re-encoding loss there aims at the
    codes' own point (the sum of their entries) with ``own_consistency_weight``; on sampled
    crops each residual stage's nearest-entry choice is scored by cross-entropy against the
    sampled code (the stages before it given the sampled codes)."""
    own_weight: float = 1.0
    """Weight of the sampled codes' cross-entropy in the ``own`` stage."""
    own_consistency_weight: float = 4.0
    """Weight of the real crops' re-encoding loss in the ``own`` stage."""
    gain: float = 10.0
    """Training audio is scaled by this (renders are quiet: mean |x| ≈ 0.03); the scale is
    folded into the first and last convolutions when the codec is saved, so the saved codec
    takes and gives audio at its true level."""


STFT_SIZES = (256, 512, 1024, 2048)
MELS = 64


class SpectralLoss(torch.nn.Module):
    """Multi-scale mel loss: at each STFT size, L1 between mel spectrograms plus L1 between
    their logarithms, averaged over sizes. :meth:`distance` is the log-mel part alone, the
    mel distance the model card reports."""

    def __init__(self, sizes: tuple[int, ...] = STFT_SIZES, mels: int = MELS) -> None:
        super().__init__()
        self.sizes = sizes
        for n in sizes:
            with warnings.catch_warnings():  # 64 mels over 129 bins (n=256): a few are empty
                warnings.simplefilter("ignore", UserWarning)
                bank = self._bank(n, mels)
            self.register_buffer(f"mel{n}", torch.as_tensor(bank, dtype=torch.float32).T)
            self.register_buffer(f"win{n}", torch.hann_window(n))

    @staticmethod
    def _bank(n: int, mels: int) -> np.ndarray:
        return mel_filter_bank(
            num_frequency_bins=n // 2 + 1,
            num_mel_filters=mels,
            min_frequency=0.0,
            max_frequency=SAMPLING_RATE / 2,
            sampling_rate=SAMPLING_RATE,
            norm="slaney",
            mel_scale="slaney",
        )

    def mel(self, wave: torch.Tensor, n: int) -> torch.Tensor:
        """Mel magnitudes [B, mels, frames] of waves [B, samples] at STFT size ``n``."""
        spec = torch.stft(
            wave, n, hop_length=n // 4, window=getattr(self, f"win{n}"), return_complex=True
        ).abs()
        return getattr(self, f"mel{n}") @ spec

    def forward(self, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        total = out.new_zeros(())
        for n in self.sizes:
            a, b = self.mel(out, n), self.mel(ref, n)
            total = (
                total
                + (a - b).abs().mean()
                + (a.clamp(min=1e-5).log() - b.clamp(min=1e-5).log()).abs().mean()
            )
        return total / len(self.sizes)

    @torch.no_grad()
    def distance(self, out: torch.Tensor, ref: torch.Tensor) -> float:
        """Mean absolute log-mel difference (nats), averaged over the STFT sizes."""
        total = 0.0
        for n in self.sizes:
            a, b = self.mel(out, n).clamp(min=1e-5).log(), self.mel(ref, n).clamp(min=1e-5).log()
            total += float((a - b).abs().mean())
        return total / len(self.sizes)


def quantize_train(
    codec: EncodecModel, z: torch.Tensor, recipe: CodecRecipe, update: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Residual quantisation of encoder output ``z`` [B, D, T] as ``EncodecModel.encode`` does
    it, for training: (quantised [B, D, T] with straight-through gradients, commitment loss,
    codes [K, B, T]). With ``update``, each codebook's moving averages take this batch and
    unused entries are refreshed."""
    b, d, t = z.shape
    x = z.transpose(1, 2).reshape(-1, d)
    residual = x
    total = torch.zeros_like(x)
    commit = x.new_zeros(())
    codes = []
    for layer in codec.quantizer.layers[:NUM_CODEBOOKS]:
        book = layer.codebook
        embed = book.embed
        flat = residual.detach()
        index = (2 * flat @ embed.T - embed.pow(2).sum(1)).argmax(1)
        q = embed[index]
        commit = commit + F.mse_loss(residual, q.detach())
        if update:
            _ema_update(book, flat, index, recipe)
            q = book.embed[index]
        codes.append(index.view(b, t))
        total = total + q.detach()
        residual = residual - q.detach()
    quantized = x + (total - x).detach()
    return quantized.view(b, t, d).transpose(1, 2), commit, torch.stack(codes)


@torch.no_grad()
def _ema_update(book, flat: torch.Tensor, index: torch.Tensor, recipe: CodecRecipe) -> None:
    k = book.embed.shape[0]
    onehot = F.one_hot(index, k).type(flat.dtype)
    book.cluster_size.mul_(recipe.decay).add_(onehot.sum(0), alpha=1 - recipe.decay)
    book.embed_avg.mul_(recipe.decay).add_(onehot.T @ flat, alpha=1 - recipe.decay)
    n = book.cluster_size.sum()
    smoothed = (book.cluster_size + 1e-5) / (n + k * 1e-5) * n
    book.embed.copy_(book.embed_avg / smoothed[:, None])
    dead = book.cluster_size < recipe.dead_fraction * len(flat) / k
    if dead.any():
        picks = torch.randint(len(flat), (int(dead.sum()),), device=flat.device)
        book.embed[dead] = flat[picks]
        book.embed_avg[dead] = flat[picks]
        book.cluster_size[dead] = len(flat) / k


class CodecModule(L.LightningModule):
    """Trains the whole codec: encoder, quantiser (by moving averages) and decoder; with
    ``decoder_only``, the decoder alone (the second phase, which leaves every code as it is)."""

    def __init__(
        self,
        codec: EncodecModel,
        recipe: CodecRecipe,
        decoder_only: bool = False,
        own: bool = False,
    ) -> None:
        super().__init__()
        self.codec, self.recipe, self.decoder_only = codec, recipe, decoder_only or own
        self.own = own
        """The ``own`` stage: batches are (waves, sampled codes)."""
        self.spectral = SpectralLoss()
        if self.decoder_only:
            for part in (codec.encoder, codec.quantizer):
                part.requires_grad_(False)

    def losses(self, wave: torch.Tensor, update: bool) -> dict[str, torch.Tensor]:
        wave = wave * self.recipe.gain
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.decoder_only):
            z = self.codec.encoder(wave[:, None])
        update = update and not self.decoder_only
        quantized, commit, codes = quantize_train(self.codec, z, self.recipe, update)
        out = self.codec.decoder(quantized)[:, 0, : wave.shape[-1]]
        again = self.codec.encoder(out[:, None])[..., : z.shape[-1]]
        if self.own:  # against the codes' own point, in units of the last residual
            target, scale = quantized.detach(), (z - quantized).detach().pow(2).mean()
        elif self.decoder_only:  # against the encoder's output, in units of the last residual
            target, scale = z.detach(), (z - quantized).detach().pow(2).mean()
        else:
            target = quantized.detach()
            scale = target.pow(2).mean()
        target = target[..., : again.shape[-1]]
        return {
            "spectral": self.spectral(out, wave),
            "wave": (out - wave).abs().mean(),
            "commit": commit,
            "consistency": (again - target).pow(2).mean() / scale.clamp(min=1e-12),
            "snr_db": snr_db(out.detach(), wave),
            "perplexity0": torch.as_tensor(
                codebook_perplexity(codes[:1].reshape(1, -1).numpy())[0]
            ),
        }

    def training_step(self, batch, _: int) -> torch.Tensor:
        wave, sampled = batch if self.own else (batch, None)
        parts = self.losses(wave, update=True)
        r = self.recipe
        consistency = r.own_consistency_weight if self.own else r.consistency_weight
        loss = (
            parts["spectral"]
            + r.wave_weight * parts["wave"]
            + r.commit_weight * parts["commit"]
            + consistency * parts["consistency"]
        )
        if sampled is not None:
            survival = survival_loss(self.codec, sampled)
            loss = loss + r.own_weight * survival
            self.log("survival", survival, prog_bar=True)
        self.log("loss", loss, prog_bar=True)
        for name in ("spectral", "consistency", "snr_db", "perplexity0"):
            self.log(name, parts[name], prog_bar=name != "snr_db")
        return loss

    def validation_step(self, batch, _: int) -> None:
        wave = batch[0] if self.own else batch
        parts = self.losses(wave, update=False)
        self.log("val_spectral", parts["spectral"], prog_bar=True)
        self.log("val_snr_db", parts["snr_db"])

    def configure_optimizers(self):
        r = self.recipe
        params = [p for p in self.codec.parameters() if p.requires_grad]
        lr, steps = (r.tune_lr, r.tune_steps) if self.decoder_only else (r.lr, r.max_steps)
        opt = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.9))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(r.warmup, steps))
        return [opt], [{"scheduler": sched, "interval": "step"}]


def survival_loss(codec: EncodecModel, codes: torch.Tensor) -> torch.Tensor:
    """How far codes [B, K, T] would change on decode → encode: the codes' point (the sum of
    their entries) decoded and encoded again, then at each residual stage the cross-entropy of
    the sampled code among the stage's entries (logits: minus squared distance, in units of the
    nearest one's mean), the residual taken with the sampled codes of the stages before."""
    layers = codec.quantizer.layers[: codes.shape[1]]
    point = sum(layer.decode(codes[:, k]) for k, layer in enumerate(layers))
    audio = codec.decoder(point)
    residual = codec.encoder(audio)[..., : codes.shape[-1]]
    total = residual.new_zeros(())
    for k, layer in enumerate(layers):
        x = residual.transpose(1, 2)
        embed = layer.codebook.embed
        dist = x.pow(2).sum(-1, keepdim=True) - 2 * x @ embed.T + embed.pow(2).sum(-1)
        unit = dist.detach().amin(-1).mean().clamp(min=1e-8)
        target = codes[:, k, : x.shape[1]]
        total = total + F.cross_entropy(
            (-dist / unit).reshape(-1, embed.shape[0]), target.reshape(-1)
        )
        residual = residual - layer.decode(codes[:, k])[..., : residual.shape[-1]]
    return total / len(layers)


class OwnCrops(Dataset):
    """Seeded random crops of ``frames`` frames from codes the LM sampled ([N, K, T]) paired
    with crops of real waves: item ``i`` is ``(waves[i], codes crop i)``."""

    def __init__(self, waves: Dataset, codes: np.ndarray, frames: int, seed: int) -> None:
        self.waves, self.codes, self.frames, self.seed = waves, codes, frames, seed

    def __len__(self) -> int:
        return len(self.waves)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, i])
        clip = self.codes[int(rng.integers(len(self.codes)))]
        start = int(rng.integers(clip.shape[-1] - self.frames + 1))
        crop = np.ascontiguousarray(clip[:, start : start + self.frames], dtype=np.int64)
        return self.waves[i], torch.as_tensor(crop)


def snr_db(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio (dB) of a reconstruction against its reference, over the batch."""
    noise = (out.double() - ref.double()).pow(2).sum()
    return 10 * torch.log10(ref.double().pow(2).sum() / noise.clamp(min=1e-20))


class Crops(Dataset):
    """Seeded random crops of ``seconds`` from a list of waves: item ``i`` is always the same
    crop (so a resumed run sees the data it would have seen), and near-silent crops are
    passed over for the next one."""

    def __init__(self, waves: list[np.ndarray], seconds: float, length: int, seed: int) -> None:
        self.waves, self.length, self.seed = waves, length, seed
        self.samples = round(seconds * SAMPLING_RATE)
        self.waves = [w for w in waves if len(w) > self.samples]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, i])
        for _ in range(16):
            wave = self.waves[int(rng.integers(len(self.waves)))]
            start = int(rng.integers(len(wave) - self.samples))
            crop = wave[start : start + self.samples]
            if float(np.abs(crop).max()) > 1e-3:
                break
        return torch.as_tensor(np.ascontiguousarray(crop, dtype=np.float32))


def new_codec(recipe: CodecRecipe, seed: int = 0) -> EncodecModel:
    """A randomly initialised codec of the recipe's size, its convolutions initialised to keep
    the signal's scale through the stack (weights of variance 1 / fan-in, zero biases, each
    residual branch starting at a tenth of that): with PyTorch's default initialisation the
    signal shrinks about threefold in variance per layer and the encoder's output is all bias,
    which leaves nothing to quantise."""
    torch.manual_seed(seed)
    model = EncodecModel(codec_config(recipe.hidden, recipe.filters, recipe.lstm_layers))
    assert model.quantizer.get_num_quantizers_for_bandwidth(BANDWIDTH) == NUM_CODEBOOKS
    branch_ends = {
        id(m.block[-1].conv) for m in model.modules() if type(m).__name__ == "EncodecResnetBlock"
    }
    with torch.no_grad():
        for m in model.modules():
            if not isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                continue
            w = m.weight
            if isinstance(m, torch.nn.ConvTranspose1d):
                fan_in = w.shape[0] * w.shape[2] / m.stride[0]
            else:
                fan_in = w.shape[1] * w.shape[2]
            std = (0.1 if id(m) in branch_ends else 1.0) / math.sqrt(fan_in)
            _set_conv_weight(m, torch.randn_like(w) * std)
            if m.bias is not None:
                m.bias.zero_()
    return model


def _set_conv_weight(conv: torch.nn.Module, weight: torch.Tensor) -> None:
    """Set a convolution's weight, through its weight-norm parametrisation when it has one."""
    if hasattr(conv, "parametrizations"):
        p = conv.parametrizations.weight
        p.original1.copy_(weight)
        p.original0.copy_(torch.norm_except_dim(weight, 2, 0))
    else:
        conv.weight.copy_(weight)


def _convs(part: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in part.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]


@torch.no_grad()
def fold_gain(codec: EncodecModel, gain: float) -> None:
    """Make a codec trained on audio scaled by ``gain`` take and give audio at its true
    level: the encoder's first convolution is scaled by ``gain``, the decoder's last (weight
    and bias) by 1 / ``gain``. Exact, as both are linear."""
    first, last = _convs(codec.encoder)[0], _convs(codec.decoder)[-1]
    _set_conv_weight(first, first.weight * gain)
    _set_conv_weight(last, last.weight / gain)
    last.bias.div_(gain)


@torch.no_grad()
def seed_codebooks(
    codec: EncodecModel, waves: list[np.ndarray], gain: float = 1.0, seed: int = 0
) -> None:
    """Start every codebook on vectors of the untrained encoder's output for ``waves`` (drawn
    at random, residual by residual; audio scaled by ``gain``), so no entry starts unused."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.cat(
        [
            codec.encoder(torch.as_tensor(w * gain, dtype=torch.float32)[None, None])[0].T
            for w in waves
        ]
    )
    residual = frames
    for layer in codec.quantizer.layers[:NUM_CODEBOOKS]:
        book = layer.codebook
        k = book.embed.shape[0]
        pick = torch.randint(len(residual), (k,), generator=g)
        book.embed.copy_(residual[pick])
        book.embed_avg.copy_(residual[pick])
        book.cluster_size.fill_(1.0)
        book.inited.fill_(True)
        index = (2 * residual @ book.embed.T - book.embed.pow(2).sum(1)).argmax(1)
        residual = residual - book.embed[index]


@torch.no_grad()
def round_trip(codec: EncodecModel, codes: torch.Tensor) -> torch.Tensor:
    """Codes [K, T] → audio → codes again: the fraction of codes unchanged per codebook [K]."""
    audio = codec.decode(codes[None, None], [None])[0]
    again = codec.encode(audio, bandwidth=BANDWIDTH).audio_codes[0, 0]
    t = min(again.shape[-1], codes.shape[-1])
    return (again[:, :t] == codes[:, :t]).float().mean(1)


def mel_distance_and_snr(codec: EncodecModel, waves: list[np.ndarray]) -> tuple[float, float]:
    """Mean multi-scale log-mel distance and SNR (dB) of the codec's reconstructions of
    ``waves`` (each encoded and decoded whole, by ``EncodecModel``'s own forward)."""
    spectral = SpectralLoss()
    dist, signal, noise = [], 0.0, 0.0
    with torch.no_grad():
        for w in waves:
            x = torch.as_tensor(w, dtype=torch.float32)[None, None]
            out = codec(x, bandwidth=BANDWIDTH).audio_values[..., : x.shape[-1]]
            dist.append(spectral.distance(out[:, 0], x[:, 0, : out.shape[-1]]))
            signal += float(x.double().pow(2).sum())
            noise += float((out.double() - x[..., : out.shape[-1]].double()).pow(2).sum())
    return float(np.mean(dist)), 10 * math.log10(signal / max(noise, 1e-20))
