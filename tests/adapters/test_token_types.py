from __future__ import annotations

import pytest

from curvebench.adapters.midi_tokens import (
    LEARNED_TYPE,
    merge_tracks,
    reference_tokenizer,
    token_type,
    token_types,
)
from curvebench.errors import ConfigError
from tests.helpers import synthetic_score


def test_token_type_is_the_part_before_the_first_underscore() -> None:
    assert token_type("Pitch_60") == "Pitch"
    assert token_type("Duration_1.0.8") == "Duration"
    assert token_type("TimeSig_4/4") == "TimeSig"
    assert token_type("Bar_None") == "Bar"
    assert token_type("Tempo_120.0") == "Tempo"


def test_base_vocabulary_types_one_per_id() -> None:
    tok = reference_tokenizer()
    types = token_types(tok)
    assert len(types) == len(tok)
    for token, i in tok.vocab.items():
        assert types[i] == token.split("_")[0]
    assert set(types) == {
        "PAD", "BOS", "EOS", "Bar", "Position", "Pitch", "PitchDrum", "Velocity", "Duration",
        "Tempo",
    }  # fmt: skip
    assert types.count("Pitch") == sum(t.startswith("Pitch_") for t in tok.vocab) == 89
    assert types.count("Velocity") == 16
    with pytest.raises(ConfigError):
        token_types(tok, merged="last")


def test_learned_ids_are_typed_by_their_first_base_token_or_bpe(tmp_path) -> None:
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.mid")
        paths[-1].write_bytes(merge_tracks(synthetic_score(i, seconds=10.0)).dumps_midi())
    bpe = reference_tokenizer()
    base_types = token_types(bpe)
    bpe.train(vocab_size=len(bpe) + 60, files_paths=paths, model="BPE")
    first, marked = token_types(bpe), token_types(bpe, merged=LEARNED_TYPE)
    assert len(first) == len(marked) == len(bpe)
    table = bpe._vocab_learned_bytes_to_tokens
    n_merged = 0
    for i in range(len(bpe)):
        base = table[bpe._model.id_to_token(i)]
        if len(base) == 1:
            assert first[i] == marked[i] == base[0].split("_")[0]
        elif base:
            n_merged += 1
            assert first[i] == base[0].split("_")[0] and marked[i] == LEARNED_TYPE
    assert n_merged > 0
    assert first[: len(base_types)] == base_types  # base ids keep their types
