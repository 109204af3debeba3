"""Prompt templates live as files in prompts/; each is loaded by name and carries a version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.errors import PapersError


@dataclass(frozen=True)
class Prompt:
    """A `NAME.system.txt` / `NAME.user.txt` pair with {named} placeholders."""

    name: str
    system: str
    user: str

    @property
    def version(self) -> str:
        """Changes whenever the wording does, so cached outputs of an old prompt are not reused."""
        return hashlib.sha256(f"{self.system}\0{self.user}".encode()).hexdigest()[:12]

    def messages(self, **values: str) -> list[tuple[str, str]]:
        try:
            return [("system", self.system.format(**values)), ("human", self.user.format(**values))]
        except KeyError as exc:
            raise PapersError(f"The prompt '{self.name}' needs a value for {exc}.") from exc


SHARED_USER = {"ask_list": "ask"}
"""Prompts whose user message is another prompt's: the list prompt differs from `ask` only in its instructions."""


@lru_cache
def load_prompt(name: str, folder: Path) -> Prompt:
    user = SHARED_USER.get(name, name)
    return Prompt(name, _read(folder / f"{name}.system.txt"), _read(folder / f"{user}.user.txt"))


@lru_cache
def load_fragment(name: str, folder: Path) -> str:
    """A piece of a prompt added only when it applies, such as the parts of a two-part question."""
    return _read(folder / f"{name}.txt")


def _read(path: Path) -> str:
    if not path.is_file():
        raise PapersError(f"Prompt file {path} is missing; check PAPERS_PROMPTS_DIR.")
    return path.read_text(encoding="utf-8").strip()
