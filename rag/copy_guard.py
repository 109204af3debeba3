"""Keeps the local model from re-typing its sources: a token that would make a copied run too long costs logits.

A 1.5B model asked for a short answer often re-types the abstract sentence after sentence (issue 8);
no prompt wording stopped it. While it generates, this llama.cpp logits processor follows every
place in the sources, and in its own answer so far, that the last generated tokens copy; once a
copied run holds `max_words` words, the token that would continue it (and any shorter token
spelling the same text) is penalised, so the model goes on in its own words where it has some.
Names and numbers are shorter than a run and stay exact.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from typing import Any

import numpy as np

WORD = re.compile(r"\w+")
PENALTY, GROWTH, CAP = 2.0, 1.5, 6.0
"""A copied run of max_words words costs its next token PENALTY logits, each further word GROWTH times
more, up to CAP. A soft penalty lets the model copy where it has no good alternative (a long name)
instead of spelling it wrong: a ban gave "theinputs" and "inducedby", and so did an uncapped penalty
("activationpatterns"). On the dev questions (`benchmarks/answers.py`, which counts such words)
this keeps re-typing at 0/26 with none of them."""
SPELLING_CHARS = 24
MID_NUMBER = re.compile(r"\d[.,]?$")
NUMBER_GOES_ON = re.compile(r"[.,]?\d")
"""A number is never cut: llama.cpp's Qwen spells "93.9" digit by digit, and a penalty on its next
digit made "93. 9", a number the source does not hold."""
"""How much of the continuation's text is looked at for other tokens that spell its start."""


class CopyGuard:
    """One per request: it learns where the prompt ends on its first call."""

    def __init__(self, llama: Any, texts: list[str], max_words: int) -> None:
        self.llama = llama
        self.max_words = max_words
        self.sources = [llama.tokenize(text.encode(), add_bos=False, special=False) for text in texts if text]
        self.written: list[int] = []
        """The answer so far, a source too: a list that repeats its own lines is re-typing as well."""
        self.sources.append(self.written)
        self.positions: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for s, tokens in enumerate(self.sources):
            for p, token in enumerate(tokens):
                self.positions[token].append((s, p))
        self.matches: dict[tuple[int, int], int] = {}
        """(source, position after the match) → how many tokens the match holds."""
        self.seen: int | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.seen is None:
            self.seen = len(input_ids)
        for token in input_ids[self.seen :]:
            self._follow(int(token))
        self.seen = len(input_ids)
        penalties: dict[int, float] = {}
        for s, p, copied in self._runs_too_long():
            penalty = min(CAP, PENALTY * GROWTH ** (copied - self.max_words))
            for token in self._spellings(s, p):
                penalties[token] = max(penalties.get(token, 0.0), penalty)
        for token, penalty in penalties.items():
            scores[token] -= penalty
        return scores

    def _follow(self, token: int) -> None:
        extended = {
            (s, p + 1): length + 1
            for (s, p), length in self.matches.items()
            if p < len(self.sources[s]) and self.sources[s][p] == token
        }
        for s, p in self.positions.get(token, ()):
            extended.setdefault((s, p + 1), 1)
        self.matches = extended
        self.positions[token].append((len(self.sources) - 1, len(self.written)))
        self.written.append(token)

    def _runs_too_long(self) -> list[tuple[int, int, int]]:
        runs = []
        for (s, p), length in self.matches.items():
            if p >= len(self.sources[s]) or length < self.max_words:
                continue
            copied = self.llama.detokenize(self.sources[s][p - length : p]).decode(errors="ignore")
            if MID_NUMBER.search(copied) and NUMBER_GOES_ON.match(self._following(s, p)):
                continue
            if (words := len(WORD.findall(copied))) >= self.max_words:
                runs.append((s, p, words))
        return runs

    def _following(self, s: int, p: int) -> str:
        return self.llama.detokenize(self.sources[s][p : p + 6]).decode(errors="ignore")[:SPELLING_CHARS]

    def _spellings(self, s: int, p: int) -> set[int]:
        """The source's next token, and every token that spells a start of the same text."""
        following = self._following(s, p)
        by_text = _vocabulary(self.llama)
        spellings = {self.sources[s][p]}
        for end in range(1, len(following) + 1):
            spellings.update(by_text.get(following[:end], ()))
        return spellings


@functools.cache
def _vocabulary(llama: Any) -> dict[str, list[int]]:
    by_text: dict[str, list[int]] = defaultdict(list)
    for token in range(llama.n_vocab()):
        by_text[llama.detokenize([token]).decode(errors="ignore")].append(token)
    by_text.pop("", None)
    return dict(by_text)
