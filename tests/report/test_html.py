from __future__ import annotations

import wave

from curvebench.api import RunOptions, run
from curvebench.cli import main


def test_report_has_numbers_figures_and_examples_to_listen_to(
    tiny_model, midi_folder, tmp_path, capsys
) -> None:
    out = tmp_path / "run"
    run(
        RunOptions(
            model=f"hf-causal:path={tiny_model}",
            data=(f"ood={midi_folder}",),
            limit=3,
            out=out,
            wandb=False,
        )
    )
    assert main(["report", str(out)]) == 0
    page = out / "report" / "index.html"
    assert f"report: {page}" in capsys.readouterr().out
    html = page.read_text()
    assert "noise-at-5s" in html and "loss orig" in html
    assert "<th>uniform (nats)</th>" in html and "<th>share of Δ</th>" in html  # typed tokens
    assert html.count("<audio") == 4  # two examples per dataset, original and perturbed
    assert "../figures/noise-at-5s-delta.png" in html
    media = out / "report" / "media"
    with wave.open(str(media / "000-perturbed.wav")) as fh:
        assert fh.getframerate() == 32000 and fh.getnframes() > 32000 * 10
    assert (media / "001-curve.png").stat().st_size > 5_000


def test_report_of_a_folder_that_is_not_a_run_is_one_line(tmp_path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("curvebench: error: ")
