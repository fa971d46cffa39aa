"""Every generated table of README.md and docs/ equals what its committed source gives today
(``make docs`` rewrites them; a change to the code that draws a table makes this fail until
the documents are regenerated)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("docs_tool", ROOT / "scripts" / "docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_generated_table_is_stale() -> None:
    assert _tool().stale(write=False) == []


def test_every_block_is_present_and_a_changed_source_is_caught(tmp_path, monkeypatch) -> None:
    tool = _tool()
    text = "\n".join(p.read_text() for p in tool.documents())
    for name in tool.BLOCKS:
        assert f"<!-- docs:{name}:begin -->" in text, name
    assert "loss orig" in tool.make_run() and "time:" in tool.make_run()
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text().replace("loss orig", "loss before"))
    monkeypatch.setattr(tool, "documents", lambda: [readme])
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    assert tool.stale(write=False) == ["README.md"]
