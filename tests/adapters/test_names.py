"""Every adapter takes ``name=``: the name a run and the board show instead of a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from curvebench.adapters import load_adapter, registered_adapters
from curvebench.errors import ConfigError


@pytest.mark.parametrize("adapter", sorted(registered_adapters()))
def test_every_registered_adapter_lists_the_name_option(adapter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_adapter(f"{adapter}:no_such_option=1")
    assert "name" in str(caught.value).rsplit("takes", 1)[1]


@pytest.mark.parametrize("spec", ["reference-tiny", "ngram", "audio-reference", "hf-causal:path="])
def test_the_name_option_names_the_model(spec: str, tiny_model: Path) -> None:
    spec = f"{spec}{tiny_model}," if spec.endswith("path=") else f"{spec}:"
    assert load_adapter(f"{spec}name=my-model_v1.2").name == "my-model_v1.2"
    with pytest.raises(ConfigError, match="use letters, digits"):
        load_adapter(f"{spec}name=../../etc")


def test_a_model_with_a_path_is_named_after_its_folder_or_hub_id() -> None:
    from curvebench.adapters.registry import path_name

    assert path_name("/models/my-gpt2/") == "my-gpt2"
    assert path_name("facebook/musicgen-small") == "musicgen-small"
    assert path_name("m-a-p/ChatMusician") == "ChatMusician"
    assert path_name("/x/a model (v2)") == "a-model--v2"
    assert path_name(None) is None and path_name("/") is None
