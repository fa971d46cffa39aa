"""Each result field is declared once, in metrics/catalog.py; a new declaration reaches the
results schema, the CLI table, the run report and the board without another edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from curvebench.benchmark.results import ModelInfo, Results, RunConfig, result_model
from curvebench.cli import print_table
from curvebench.leaderboard import entries, markdown, page
from curvebench.metrics import catalog
from curvebench.metrics.catalog import METRICS, MetricInfo, declare
from curvebench.report.html import results_table

DUMMY = MetricInfo(
    "dummy_wobble", "A metric declared by this test.", "nats", headline=True, label="wobble"
)


@pytest.fixture
def dummy_declared(monkeypatch):
    monkeypatch.setattr(catalog, "METRICS", dict(METRICS))
    declare(DUMMY)
    yield result_model(catalog.METRICS.values())


def _results(model: type, **values: float) -> Results:
    result = model(role="training", n_pairs=2, n_originals=2, **values)
    return Results.model_construct(
        curvebench_version="0",
        created="2026-01-01T00:00:00+00:00",
        model=ModelInfo(
            spec="m",
            name="m",
            fingerprint="f" * 64,
            parameters=10,
            modality="symbolic",
            context_length=8,
        ),
        config=RunConfig(seed=0, devices=1, batch_size=1, limit=None, tasks={}, task_versions={}),
        datasets=[],
        results={"noise-at-5s": {"d": result}},
        curves={},
        skipped=[],
        samples_sha256="0",
        env={},
    )


def test_a_declared_metric_is_a_results_field(dummy_declared) -> None:
    field = dummy_declared.model_fields["dummy_wobble"]
    assert field.description == DUMMY.description
    assert field.json_schema_extra == {"unit": "nats", "better": None, "headline": True}


def test_a_declared_headline_metric_reaches_table_report_and_board(
    dummy_declared, capsys, tmp_path: Path
) -> None:
    results = _results(dummy_declared, dummy_wobble=0.4321)
    print_table(results)
    out = capsys.readouterr().out
    assert "wobble" in out and "0.432" in out
    html = results_table(results)
    assert "wobble" in html and "0.432" in html
    roles = {"training": results.results["noise-at-5s"]["d"]}
    entry = entries.Entry(tmp_path, results, {"noise-at-5s": roles})
    readme = markdown.write_readme([entry], tmp_path / "README.md").read_text()
    header = next(line for line in readme.splitlines() if line.startswith("| model |"))
    assert "wobble" in header and "0.432" in readme
    rows, data = page._rows([entry])
    assert "0.432" in rows and data[0]["dummy_wobble"] == pytest.approx(0.4321)


def test_without_the_declaration_nothing_shows_it(capsys) -> None:
    results = _results(result_model(METRICS.values()))
    print_table(results)
    assert "wobble" not in capsys.readouterr().out


def test_a_duplicate_declaration_fails_loudly() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        declare(MetricInfo("abs_loss_original", "again"))
