"""A perturbed copy's EnCodec codes from its original's stack output and a window around
where they differ equal encoding the copy whole, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import EncodecConfig, EncodecModel

from curvebench.adapters import load_adapter
from curvebench.adapters.encodec_splice import (
    MAX_WINDOW,
    StackSplice,
    changed_stretch,
    stack_reach,
)
from curvebench.threads import torch_threads

SR, SECONDS = 32000, 15.0
STRETCHES = [
    (160000, 224000),  # 2 s of noise at 5 s: the tasks' case
    (160123, 160124),  # one sample
    (0, 1000),  # at the start
    (470000, 480000),  # up to the end
    (100000, 400000),  # most of the clip
    (0, 480000),  # all of it: encoded whole
]


def music(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * SECONDS)) / SR
    return 0.05 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(t)) + 0.01 * rng.standard_normal(t.size)


def copies(original: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    out = []
    for a, b in STRETCHES:
        copy = original.copy()
        copy[a:b] += 0.02 * rng.standard_normal(b - a)
        out.append(copy)
    return out


def test_changed_stretch() -> None:
    x = np.zeros(100)
    y = x.copy()
    y[10] = y[40] = 1
    assert changed_stretch(y, x) == (10, 41)
    assert changed_stretch(x, x.copy()) == (0, 0)
    assert changed_stretch(x[:50], x) is None


@pytest.fixture(scope="module")
def reference():
    return load_adapter("audio-reference")


def test_the_reach_of_the_reference_codec_is_what_its_frames_read(reference) -> None:
    encoder = reference.model.audio_encoder.encoder
    cut, reach = stack_reach(encoder)
    assert reach.hop == 640 and reach.right == 0  # causal convolutions
    splice = StackSplice(encoder)
    x = torch.as_tensor(music()[: 64 * 640], dtype=torch.float32)[None, None]
    with torch.no_grad(), torch_threads(1):
        whole = splice.stack(x)
        before, after = x.clone(), x.clone()
        before[..., : 30 * 640 - reach.left] += 0.1  # what frames 30 on do not read
        after[..., 30 * 640 :] += 0.1  # what frames before 30 do not read
        assert torch.equal(splice.stack(before)[..., 30:], whole[..., 30:])
        assert not torch.equal(splice.stack(before)[..., :30], whole[..., :30])
        assert torch.equal(splice.stack(after)[..., :30], whole[..., :30])
    assert cut == next(i for i, m in enumerate(encoder.layers) if "LSTM" in type(m).__name__)


def test_copies_of_the_reference_encode_as_they_would_whole(reference) -> None:
    original = music()
    splice_before = getattr(reference, "_stack_splice", None)
    spliced_before = splice_before.spliced if splice_before is not None else 0
    reference.encode_audio(original, SR, "original")
    for (a, b), copy in zip(STRETCHES, copies(original), strict=True):
        whole = reference.encode_audio(copy, SR, "copy").ids
        fast = reference.encode_audio(copy, SR, "copy", like=original).ids
        np.testing.assert_array_equal(fast, whole, err_msg=f"stretch {a}-{b}")
    # every stretch but the whole clip went through a window
    assert reference._stack_splice.spliced - spliced_before == len(STRETCHES) - 1


def test_the_adapters_codes_are_encodec_models_own(reference) -> None:
    wave = music(3)
    values = torch.as_tensor(wave, dtype=torch.float32)[None, None]
    with torch.no_grad(), torch_threads(1):
        out = reference.model.audio_encoder.encode(
            values, torch.ones_like(values, dtype=torch.long), reference.bandwidth
        )
    np.testing.assert_array_equal(
        reference.encode_audio(wave, SR, "w").ids, out.audio_codes[0, 0].numpy()
    )


def small_codec(**shape) -> EncodecModel:
    config = EncodecConfig(
        sampling_rate=SR,
        audio_channels=1,
        num_filters=4,
        hidden_size=16,
        codebook_size=64,
        codebook_dim=16,
        upsampling_ratios=[8, 5, 4, 4],
        target_bandwidths=[2.2],
        normalize=False,
        **shape,
    )
    torch.manual_seed(0)
    return EncodecModel(config).eval()


@pytest.mark.parametrize(
    "shape",
    [
        {"use_causal_conv": False},
        {"use_causal_conv": True},
        # dilated residual blocks, two of them, no shortcut convolution
        {
            "use_causal_conv": False,
            "num_residual_layers": 2,
            "dilation_growth_rate": 3,
            "use_conv_shortcut": False,
        },
        {
            "use_causal_conv": True,
            "num_residual_layers": 2,
            "dilation_growth_rate": 3,
            "use_conv_shortcut": False,
        },
    ],
)
def test_codecs_of_other_shapes_splice_exactly_too(shape) -> None:
    codec = small_codec(**shape)
    _, reach = stack_reach(codec.encoder)
    assert (reach.right > 0) != shape["use_causal_conv"]
    splice = StackSplice(codec.encoder)
    original = torch.as_tensor(music(2), dtype=torch.float32)[None, None]
    with torch.no_grad(), torch_threads(1):
        whole_original = splice.stack(original)
        for a, b in STRETCHES[:-1]:
            copy = original.clone()
            copy[..., a:b] += 0.02
            want = splice.stack(copy)
            got = splice.copy_stack(copy, original, b"o", (a, b))
            assert got is not None, (a, b)
            assert torch.equal(got, want), (a, b)
            # and the codes, through the rest of the encoder and the quantiser
            codes = codec.quantizer.encode(splice.head(got), 2.2)
            whole = codec.encode(copy, bandwidth=2.2).audio_codes[0]
            assert torch.equal(codes.transpose(0, 1), whole), (a, b)
        assert torch.equal(splice.memo[b"o"], whole_original)
    assert splice.whole == 0


@pytest.mark.parametrize("shape", [{"norm_type": "time_group_norm"}, {"pad_mode": "circular"}])
def test_codecs_whose_frames_read_the_whole_clip_are_not_spliced(shape) -> None:
    assert stack_reach(small_codec(**shape).encoder) is None


def test_stereo_audio_at_another_rate_splices_exactly(reference) -> None:
    rng = np.random.default_rng(4)
    original = np.stack([music(5), music(6)], axis=1)[: 44100 * 10]
    copy = original.copy()
    copy[200000:260000] += 0.02 * rng.standard_normal((60000, 2))
    spliced = reference._stack_splice.spliced if reference._stack_splice else 0
    fast = reference.encode_audio(copy, 44100, "copy", like=original).ids
    np.testing.assert_array_equal(fast, reference.encode_audio(copy, 44100, "copy").ids)
    assert reference._stack_splice.spliced == spliced + 1


def test_a_window_the_library_computes_differently_is_not_used(reference) -> None:
    """Where the window's clean frames differ from the original's (a library that sums
    differently on shorter input), the copy is not spliced."""
    splice = StackSplice(reference.model.audio_encoder.encoder)
    original = torch.as_tensor(music(), dtype=torch.float32)[None, None]
    copy = original.clone()
    copy[..., 160000:224000] += 0.02
    stack = splice.stack

    def off_by_a_bit(values: torch.Tensor) -> torch.Tensor:
        out = stack(values)
        return out * (1 + 1e-7) if values.shape[-1] < original.shape[-1] else out

    splice.stack = off_by_a_bit
    with torch.no_grad(), torch_threads(1):
        for n in range(1, 4):
            assert splice.copy_stack(copy, original, b"o", (160000, 224000)) is None
            # tried at most twice, the window's minimum doubling up to a limit
            assert splice.whole == n and splice.min_window <= MAX_WINDOW
    assert splice.spliced == 0
