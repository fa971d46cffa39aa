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
