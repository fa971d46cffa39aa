"""The generated role is drawn by the model under test, or by the reference when it cannot
generate (the reason recorded), and verify-style rebuilding finds the same pieces."""

from __future__ import annotations

import pytest

from curvebench.adapters import load_adapter
from curvebench.adapters.registry import AdapterInfo, register_adapter, registered_adapters
from curvebench.api import RunOptions, run
from curvebench.pipeline.generated import generated_pieces


@pytest.mark.slow
def test_the_model_under_test_draws_its_own_generated_role(tmp_path) -> None:
    output = run(
        RunOptions(model="ngram:order=3", limit=2, out=tmp_path, wandb=False, cache_dir=tmp_path)
    )
    generated = [d for d in output.results.datasets if d.role == "generated"]
    assert [d.name for d in generated] == ["ngram-topk10", "ngram-topk50", "ngram-topk250"]
    assert all(d.generated.generator == "ngram:order=3" for d in generated)
    assert all(d.generated.fallback is None for d in generated)
    assert all((tmp_path / "generated").rglob("*.mid"))
    spec = generated[0].generated
    again = generated_pieces(load_adapter(spec.generator), spec, generated[0].name, tmp_path)
    lines = [s for s in output.lines if s.dataset == generated[0].name and s.is_original]
    assert {p.id for p in again} >= {s.piece_id for s in lines}


def test_a_model_that_cannot_generate_falls_back_with_the_reason(monkeypatch, tmp_path) -> None:
    from curvebench.adapters.ngram import NGramAdapter

    class Mute(NGramAdapter):
        name = "mute"
        can_generate = False

    from curvebench.adapters import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registered_adapters()))
    register_adapter(AdapterInfo("mute", lambda: Mute(order=3), "cannot generate"))
    from curvebench.pipeline.options import RunOptions as Options
    from curvebench.pipeline.run import generator_for

    adapter = load_adapter("mute")
    spec, generator, why = generator_for(adapter, Options(model="mute"))
    assert spec == "reference" and generator.name == "reference"
    assert "mute cannot generate" in why
    spec, generator, why = generator_for(adapter, Options(model="mute", generator="ngram"))
    assert spec == "ngram" and why is None
