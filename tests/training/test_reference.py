"""Stage 1 (token file) → stage 2 (training from it alone) → stage 3 (evaluation): a model
folder that loads through ``hf-causal:path=DIR``; stage 2 imports no corpus or MIDI library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from curvebench.adapters import load_adapter
from curvebench.adapters.corpus_tokens import tokenize_split
from curvebench.training import evaluate, reference
from curvebench.training.augment import DEFAULT_AUGMENTATION
from curvebench.training.reference import train_from_tokens
from curvebench.training.token_file import read_token_file
from curvebench.training.tokenize_corpus import augmented_split, make_token_file

ABSENT = ("datasets", "pyarrow", "wandb", "miditok", "symusic", "pydantic", "soundfile")
"""Libraries a training machine may lack: stage 2 must run without them and import none of
the first five (the others are optional imports of transformers and Lightning)."""

STAGE_TWO = """
import json
from curvebench.training import reference
reference.RECIPES["test-tiny"] = reference.ReferenceRecipe(
    "test-tiny", n_embd=16, n_layer=1, n_head=2, context=64, max_steps=3, batch_size=4, warmup=1
)
facts = reference.train_from_tokens("test-tiny", Path("{out}"), Path("{tokens}"), device="cpu")
print(json.dumps(facts))
"""


def _run_without_corpus_libraries(code: str) -> str:
    """Run code in a fresh interpreter where the ABSENT libraries cannot be imported; the
    last line of its standard output."""
    prelude = f"import sys\nfrom pathlib import Path\nfor n in {ABSENT!r}: sys.modules[n] = None\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_stage_two_imports_no_corpus_midi_or_tracking_library() -> None:
    code = (
        "import sys\n"
        "import curvebench.cli, curvebench.training.reference\n"
        f"print(sorted(m for m in {ABSENT[:5]!r} if sys.modules.get(m) is not None))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    stage_two = "import curvebench.cli, curvebench.training.reference\nprint('ok')"
    assert _run_without_corpus_libraries(stage_two) == "ok"


@pytest.mark.slow
def test_tokens_then_training_then_evaluation_give_a_loadable_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = make_token_file("reference-tiny", tmp_path / "tokens", limit=3)
    data = read_token_file(tokens)
    assert [i for i in data.piece_ids["train"] if "#aug" not in i] == data.piece_ids["train"][::5]
    assert len(data.pieces["train"]) == 15 and len(data.pieces["ood"]) == 3

    out = tmp_path / "model"
    facts = json.loads(_run_without_corpus_libraries(STAGE_TWO.format(out=out, tokens=tokens)))
    for file in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json"):
        assert (out / file).is_file(), file
    assert facts["train_sequences"] == 15 and facts["token_file"] == "reference-tiny-tokens.npz"
    assert "Not evaluated yet" in (out / "MODEL_CARD.md").read_text()

    adapter = load_adapter(f"hf-causal:path={out}")
    assert adapter.num_parameters() == facts["parameters"]
    assert len(adapter.tokenizer) == data.meta["vocab_size"]

    few = {s: tokenize_split(s)[:2] for s in ("validation", "ood")}
    few["validation_augmented"] = augmented_split(
        "validation", range(1, 2), DEFAULT_AUGMENTATION, 0, limit=2
    )[0]
    monkeypatch.setattr(evaluate, "split_sequences", lambda split, aug, seed: few[split])
    facts = evaluate.evaluate_reference(out)
    # the augmented copies spread the velocities the validation pieces are written at
    velocity_ids = {
        i
        for t, i in load_adapter(f"hf-causal:path={out}").tokenizer.vocab.items()
        if t.startswith("Velocity_")
    }
    distinct = {s: len(velocity_ids & set(np.concatenate(few[s]).tolist())) for s in few}
    assert distinct["validation_augmented"] > distinct["validation"]
    for split in ("validation", "validation_augmented", "ood"):
        by_type = facts["loss_by_type"][split]
        tokens_ = sum(e["tokens"] for e in by_type.values())
        assert tokens_ == facts[f"{split}_tokens"] == sum(len(s) - 1 for s in few[split])
        total = sum(e["nats"] * e["tokens"] for e in by_type.values()) / tokens_
        assert total == pytest.approx(facts[f"{split}_loss_nats"], abs=1e-3)
    assert facts["log_vocab_nats"] == pytest.approx(np.log(data.meta["vocab_size"]), abs=1e-4)
    assert json.loads((out / "training.json").read_text()) == facts
    card = (out / "MODEL_CARD.md").read_text()
    assert "| ood |" in card and "| Velocity |" in card and "transposition" in card
    assert "| validation, augmented |" in card and "ood / validation, augmented" in card


def test_an_unknown_recipe_or_device_is_a_config_error(tmp_path: Path) -> None:
    from curvebench.errors import ConfigError

    with pytest.raises(ConfigError, match="choose one of"):
        reference.recipe_for("nope")
    with pytest.raises(ConfigError, match="--device"):
        train_from_tokens("reference-tiny", tmp_path, tmp_path / "x.npz", device="tpu")
