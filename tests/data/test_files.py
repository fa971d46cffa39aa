"""Files looked at before they are read: kinds by content, limits with the option that raises
them, printable names."""

from __future__ import annotations

import os

import pytest

from curvebench.data.files import Limits, checked_file, content_kind, printable
from curvebench.data.piece import parse_midi
from curvebench.errors import ConfigError, DataError
from tests.fuzz.corpus import midi_file, million_notes, notes, tempo_event, wav_float


def test_names_that_are_not_utf8_or_hold_control_characters_print_on_one_line() -> None:
    assert printable(os.fsdecode(b"a-\xff.mid")) == "a-\\xff.mid"
    assert printable("new\nline.mid") == "new\\x0aline.mid"
    assert printable("Dvořák.mid") == "Dvořák.mid"  # real UTF-8 stays as it is


def test_kinds_come_from_the_content_and_a_mislabelled_file_is_refused(tmp_path) -> None:
    assert content_kind(midi_file(notes(2))) == "midi"
    assert content_kind(wav_float([0.0] * 10)) == "audio"
    assert content_kind(b"hello") is None
    (tmp_path / "a.mid").write_bytes(midi_file(notes(2)))
    assert checked_file(tmp_path / "a.mid") == "midi"
    (tmp_path / "b.mid").write_bytes(wav_float([0.0] * 10))
    with pytest.raises(DataError, match=r"b\.mid: holds audio but is named \.mid"):
        checked_file(tmp_path / "b.mid")


def test_each_limit_names_the_option_that_raises_it(tmp_path) -> None:
    many = million_notes()
    with pytest.raises(DataError, match=r"over the limit of 100,000 per piece.*--max-notes"):
        parse_midi(many, "many.mid")
    assert parse_midi(many, "many.mid", Limits(max_notes=1_000_000)).note_num() == 10**6
    big = tmp_path / "big.mid"
    with open(big, "wb") as fh:
        fh.write(midi_file(tempo_event(500_000) + notes(4)))
        fh.truncate(3 * 2**20)
    with pytest.raises(DataError, match=r"3 MB, over the limit of 2 MB.*--max-file-mb"):
        checked_file(big, Limits(max_file_mb=2))
    assert checked_file(big, Limits(max_file_mb=4)) == "midi"
    with pytest.raises(ConfigError, match="--max-seconds"):
        Limits(max_seconds=0)
