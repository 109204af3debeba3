"""Inline [n] citations: find them, normalise how a model wrote them, drop the ones that point at no source."""

from __future__ import annotations

import re

CITATION = re.compile(r"\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")
SOURCE_TAG = re.compile(r'\s*<\s*(/?)\s*sources?\b(?:\s+n\s*=\s*"?(\d+)"?)?[^<>]*>', re.I)
"""The prompt's delimiters: an abstract must not contain them, and a small model sometimes cites
with them (`<source n="2">` for [2])."""
SOURCE_NAME = re.compile(r"\bsources?\s+(?:number\s+)?\[?(\d+(?:(?:,\s+|\s+and\s+|\s*&\s*)\d+)*)\]?(?![\w.,]\d|\w)", re.I)
"""'Source 2', 'source [2]' or 'sources 2 and 3' written out instead of [2], [2][3]."""
AFTER_THE_STOP = re.compile(r"([.!?])((?:\s*\[\d+(?:\s*[,;–-]\s*\d+)*\])+)(?=\s*(?:$|[A-Z]))")
"""Citations placed after the sentence's full stop ('... text. [1]') belong to that sentence,
unless they start the next one ('[1] presents ...')."""


def cited_numbers(marker: str) -> list[int]:
    """'[2, 4]' -> [2, 4]; '[1-3]' -> [1, 2, 3]."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", marker.strip("[]")):
        bounds = re.split(r"\s*[–-]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            numbers += range(low, high + 1) if 0 < high - low < 10 else [low, high]
        elif part.isdigit():
            numbers.append(int(part))
    return numbers


def clean_citations(text: str, valid: set[int]) -> tuple[str, list[int], list[int]]:
    """Rewrite the answer keeping only citations of given sources.

    Returns the cleaned text, the cited numbers in order of first use, and the removed ones.
    """
    cited: list[int] = []
    removed: list[int] = []

    def rewrite(match: re.Match[str]) -> str:
        kept = []
        for number in cited_numbers(match.group(0)):
            if number in valid:
                if number not in kept:
                    kept.append(number)
                if number not in cited:
                    cited.append(number)
            elif number not in removed:
                removed.append(number)
        return "".join(f"[{n}]" for n in kept)

    text = SOURCE_TAG.sub(lambda tag: f" [{tag.group(2)}]" if tag.group(2) and not tag.group(1) else "", text)
    text = SOURCE_NAME.sub(lambda name: "".join(f"[{n}]" for n in re.findall(r"\d+", name.group(1))), text)
    text = AFTER_THE_STOP.sub(r" \2\1", text)
    cleaned = CITATION.sub(rewrite, text)
    cleaned = re.sub(r"(\[\d+\])(?:\s*\1)+", r"\1", cleaned)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    return cleaned, cited, removed
