from __future__ import annotations

import hashlib
import json

import pytest

from curvebench.data.audio import piece_waveform
from curvebench.data.piece import Piece, parse_midi
from curvebench.data.sources import (
    EMBEDDED_DIR,
    DataSpec,
    embedded_split,
    iter_pieces,
    load_split,
    parse_data_arg,
)
from curvebench.errors import ConfigError, DataError


def manifest() -> list[dict]:
    return [json.loads(line) for line in (EMBEDDED_DIR / "manifest.jsonl").read_text().splitlines()]


def test_embedded_corpus_has_the_roles_and_sizes_promised() -> None:
    rows = manifest()
    by_split = {s: [r for r in rows if r["split"] == s] for s in ("train", "validation", "ood")}
    assert len(by_split["train"]) > 3000 and len(by_split["validation"]) > 100
    assert len(by_split["ood"]) > 50
    collections = {r["collection"] for r in by_split["train"]}
    assert {"bach-chorales", "essenFolksong", "oneills1850", "ryansMammoth"} <= collections
    ood_composers = {r["collection"] for r in by_split["ood"]}
    assert {"beethoven", "mozart", "haydn", "chopin", "schubert"} <= ood_composers
    assert not ood_composers & collections  # the ood set is not in the training pool
    for key in ("id", "composer", "title", "source", "duration_s", "sha256"):
        assert all(key in r for r in rows), key


def test_embedded_split_loads_through_datasets_and_matches_the_manifest() -> None:
    ds = embedded_split("ood")
    rows = {r["id"]: r for r in manifest() if r["split"] == "ood"}
    assert len(ds) == len(rows)
    for row in ds.select(range(5)):
        assert hashlib.sha256(row["midi"]).hexdigest() == rows[row["id"]]["sha256"]
        score = parse_midi(row["midi"], row["id"])
        assert score.note_num() > 0


def test_parse_data_arg_roles_and_names(tmp_path) -> None:
    assert parse_data_arg(str(tmp_path)) == DataSpec(tmp_path.name, "custom", str(tmp_path))
    assert parse_data_arg(f"ood={tmp_path}/").role == "ood"
    assert parse_data_arg("training=user/some-dataset").name == "some-dataset"
    with pytest.raises(ConfigError, match="unknown role"):
        parse_data_arg(f"test={tmp_path}")


def test_local_folder_becomes_pieces_sorted_by_path(midi_folder) -> None:
    spec = parse_data_arg(f"training={midi_folder}")
    every = list(iter_pieces(spec, load_split(spec)))
    assert [p.id for p in every] == ["piece00.mid", "piece01.mid", "piece02.mid", "piece03.mid"]
    assert all(isinstance(p, Piece) and p.role == "training" for p in every)
    assert every[0].sha256 == hashlib.sha256((midi_folder / "piece00.mid").read_bytes()).hexdigest()
    sample = [p.id for p in iter_pieces(spec, load_split(spec), limit=3)]  # seeded, in order
    assert len(sample) == 3 and sample == sorted(sample) and set(sample) < {p.id for p in every}


def test_empty_folder_and_missing_hub_dataset_fail_clearly(tmp_path) -> None:
    with pytest.raises(DataError, match="no MIDI"):
        load_split(parse_data_arg(str(tmp_path)))
    with pytest.raises(DataError, match="Hugging Face dataset"):
        load_split(parse_data_arg("nobody/no-such-dataset-xyz"))


def test_hub_code_path_with_a_local_parquet_dataset(tmp_path, midi_folder) -> None:
    import datasets

    files = sorted(midi_folder.glob("*.mid"))
    ds = datasets.Dataset.from_dict({"midi": [f.read_bytes() for f in files]})
    ds.to_parquet(str(tmp_path / "data" / "train-00000.parquet"))
    spec = parse_data_arg(f"ood={tmp_path / 'data'}")
    # a folder without MIDI files but with parquet files is not a MIDI folder: load it as a dataset
    from curvebench.data.sources import hub_dataset

    loaded = hub_dataset(str(tmp_path / "data"))
    pieces = list(iter_pieces(spec, loaded))
    assert len(pieces) == len(files) and pieces[0].id == "000000"
    assert pieces[0].midi == files[0].read_bytes()


def test_bad_midi_bytes_raise_data_error() -> None:
    with pytest.raises(DataError, match="empty"):
        parse_midi(b"", "x.mid")
    with pytest.raises(DataError, match="not a standard MIDI file"):
        parse_midi(b"RIFF....", "x.mid")


def test_hub_location_parts() -> None:
    from curvebench.data.sources import HubLocation

    assert HubLocation.parse("hf:user/set:piano@v1.0#test") == HubLocation(
        "user/set", "piano", "v1.0", "test", True
    )
    assert HubLocation.parse("hf:user/set") == HubLocation("user/set")
    assert parse_data_arg("ood=hf:user/set:piano#test").name == "set-piano-test"
    with pytest.raises(ConfigError, match=r"hf:ID\[:config\]"):
        HubLocation.parse("hf:user/set#")


def test_hub_dataset_is_streamed_and_limit_reads_only_what_it_needs(tmp_path, midi_folder):
    import datasets

    files = sorted(midi_folder.glob("*.mid"))
    data = tmp_path / "data"
    for split in ("train", "test"):
        ds = datasets.Dataset.from_dict(
            {"midi": [f.read_bytes() for f in files], "title": [f"{split}{i}" for i in range(4)]}
        )
        ds.to_parquet(str(data / f"{split}-00000.parquet"))
    spec = parse_data_arg(f"ood=hf:{data}#test")
    rows = load_split(spec)
    assert isinstance(rows, datasets.IterableDataset)
    read = []
    rows = rows.map(lambda row: read.append(row["title"]) or row)  # records every row pulled
    pieces = list(iter_pieces(spec, rows, limit=2))
    assert [p.id for p in pieces] == ["000000", "000001"] and pieces[1].midi == files[
        1
    ].read_bytes()
    assert read == ["test0", "test1"]  # the rest of the split was never read
    assert len(list(iter_pieces(spec, load_split(spec), limit=0.5))) == 2
    assert len(list(iter_pieces(spec, load_split(spec)))) == 4


def test_a_hub_dataset_of_recordings_gives_audio_pieces(tmp_path) -> None:
    import datasets
    import numpy as np
    import soundfile

    from curvebench.data.sources import hub_dataset

    files = []
    for i in range(2):
        path = tmp_path / f"take{i}.flac"
        soundfile.write(path, 0.1 * np.sin(np.arange(16000) * (i + 1) / 20), 16000)
        files.append(str(path))
    ds = datasets.Dataset.from_dict({"audio": files}).cast_column("audio", datasets.Audio())
    ds.to_parquet(str(tmp_path / "data" / "train-00000.parquet"))
    spec = parse_data_arg(f"ood=hf:{tmp_path / 'data'}")
    pieces = list(iter_pieces(spec, hub_dataset(f"hf:{tmp_path / 'data'}"), limit=1))
    assert len(pieces) == 1 and pieces[0].is_audio and not pieces[0].midi
    wave = piece_waveform(pieces[0], 32000)
    assert wave.size == 32000 and abs(wave).max() > 0.05
