"""``curvebench.evaluate``: a model in memory, its saved copy and the CLI give one result."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

import curvebench
from curvebench.adapters.midi_tokens import TOKENIZER_FILE, reference_tokenizer
from curvebench.adapters.registry import AdapterInfo, register_adapter, registered_adapters
from curvebench.cli import main
from curvebench.errors import ConfigError


def tiny_model_in_memory():
    torch.manual_seed(0)
    tok = reference_tokenizer()
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=tok.vocab["BOS_None"],
        eos_token_id=tok.vocab["EOS_None"],
        pad_token_id=tok.pad_token_id,
    )
    return GPT2LMHeadModel(config), tok


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, midi_folder):
    tmp = tmp_path_factory.mktemp("api")
    model, tok = tiny_model_in_memory()
    folder = tmp / "saved"
    model.save_pretrained(folder)
    tok.save(folder / TOKENIZER_FILE)
    common = {"data": f"ood={midi_folder}", "limit": 2, "use_cache": False, "figures": False}
    in_memory = curvebench.evaluate(model, tok, name="tiny", out=tmp / "mem", **common)
    spec = f"hf-causal:path={folder}"
    from_spec = curvebench.evaluate(spec, out=tmp / "spec", **common)
    cli = ["run", "--model", spec, "--data", f"ood={midi_folder}", "--limit", "2"]
    assert main([*cli, "--out", str(tmp / "cli"), "--no-wandb", "--no-cache"]) == 0
    cli_results = json.loads((tmp / "cli" / "results.json").read_text())
    return model, in_memory, from_spec, cli_results


def test_in_memory_spec_and_cli_agree(three_runs) -> None:
    model, in_memory, from_spec, cli = three_runs
    assert in_memory.results.model_dump()["results"] == cli["results"]
    assert from_spec.results.model_dump()["results"] == cli["results"]
    assert in_memory.results.curves == from_spec.results.curves
    assert [s.loss for s in in_memory.samples] == [s.loss for s in from_spec.samples]
    assert in_memory.results.model.spec == "tiny" and in_memory.results.model.name == "tiny"
    assert model.training  # the evaluator scored in eval mode and gave the mode back


def test_tables_and_metric_lookup(three_runs) -> None:
    _, in_memory, _, cli = three_runs
    table = in_memory.table()
    assert list(table["dataset"]) == [next(iter(cli["results"]["noise-at-5s"]))]
    assert (
        table["region_peak"][0] == cli["results"]["noise-at-5s"][table["dataset"][0]]["region_peak"]
    )
    low, high = table["abs_loss_original_ci_low"][0], table["abs_loss_original_ci_high"][0]
    assert low <= table["abs_loss_original"][0] <= high  # every estimate with its interval
    assert {"region_peak_ci_low", "auroc_abs_loss_ci_high"} <= set(table.columns)
    items = in_memory.items()
    assert len(items) == len(in_memory.samples) == 4  # 2 originals, 2 perturbed copies
    perturbed = items[items["variant"] != "original"]
    assert perturbed["region_peak"].notna().all()
    assert in_memory.metric("n_pairs") == 2


def test_a_plain_module_behind_the_protocol(midi_folder, tmp_path) -> None:
    model, tok = tiny_model_in_memory()

    class Bare(torch.nn.Module):  # ids in, logits out: no transformers interface
        def __init__(self) -> None:
            super().__init__()
            self.inner = model
            self.context_length = 256

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=ids).logits

    common = {"data": f"ood={midi_folder}", "limit": 1, "use_cache": False, "figures": False}
    bare = curvebench.evaluate(Bare(), tok, out=tmp_path / "bare", **common)
    hf = curvebench.evaluate((model, tok), out=tmp_path / "hf", **common)
    assert bare.results.results == hf.results.results
    with pytest.raises(ConfigError, match="tokenizer"):
        curvebench.evaluate(Bare(), out=tmp_path / "x", **common)


def test_register_adapter_again_from_a_notebook_cell() -> None:
    registered_adapters()

    def factory(**options: str):  # the same definition, run twice
        raise AssertionError

    info = AdapterInfo("notebook-model", factory, "a model defined in a notebook")
    register_adapter(info)
    register_adapter(info)
    register_adapter(AdapterInfo("notebook-model", factory, "edited summary"))
    assert registered_adapters()["notebook-model"].summary == "edited summary"
    with pytest.raises(ConfigError, match="already registered"):
        register_adapter(AdapterInfo("notebook-model", lambda: None, "another"))
    with pytest.raises(ConfigError, match="already registered"):
        register_adapter(AdapterInfo("hf-causal", factory, "clash"))


def test_import_curvebench_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, curvebench; "
        "print(sorted(m for m in ('torch', 'lightning', 'wandb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
