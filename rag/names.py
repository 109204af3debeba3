"""Names in a sentence (methods, models, datasets, authors) and whether a text holds them.

A small model makes up authors, models and datasets; a question may name what no source mentions.
A name is a capitalised word; an acronym counts as found where its words are.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from rag.citations import CITATION
from rag.installed import tokenizer_file
from rag.text import sentences

NAME = re.compile(r"\b[A-Z][\w-]+")
DESCRIPTIVE_TAIL = re.compile(r"(?:-[a-z]+)+$")
"""A compound such as "GPT-style", "ViT-based" or "LLM-generated" describes by its head: it is found
where the head is. A capitalised tail ("ViWS-Net") is part of the name."""
AUTHOR_MARK = re.compile(r"^\S+(?:\s+et\s+al\b|\s+and\s+(?:colleagues|co-?authors|coworkers)\b|'s\b)")
"""A sentence's first word is capitalised by grammar; it is looked up as a name when it is written as
one: with a capital inside ("DeepMind"), or as an author ("Karpov et al.", "Zhang and colleagues").
Looking up every first word removed correct sentences opening with a common word ("Digest.")."""
LIKENESS = re.compile(r"[\w-]+[-\s](?:style|like|type|inspired|esque)\b", re.I)
"""'A CNN-LSTM style model', 'GPT-like' or 'a Transformer-type network' asks for a kind, not that name."""
ADDRESSED = re.compile(r"\W*(?:you|your)\b", re.I)
PLAIN_WORDS = frozenset(
    "the this these those both and but however also yes paper papers source sources abstract "
    "abstracts study studies title library authors".split()
)
"""Words a model capitalises by habit ("In Paper 1, ...") that name nothing."""


def unknown_names(sentence: str, known: str) -> list[str]:
    """Names the sources do not contain: authors, models or datasets a small model made up, or a
    name from the question that the model claims a source covers when none mentions it.

    A name is a capitalised word, the sentence's first when written as a name (AUTHOR_MARK); an
    acronym counts as found where its words are ("TSP": "travelling salesman problem"). `known` is
    the sources' text, lower-cased.
    """
    text = CITATION.sub(" ", sentence).lstrip(" \"'(")
    names = [
        m.group(0) for m in NAME.finditer(text)
        if m.start() > 0 or re.search(r"\w[A-Z0-9]", m.group(0)) or AUTHOR_MARK.match(text)
    ]
    return [
        name for name in names
        if name.lower() not in PLAIN_WORDS and not _found(DESCRIPTIVE_TAIL.sub("", name) or name, known)
    ]


def _found(name: str, known: str) -> bool:
    """Spelled with other separators counts ("F1" in "F 1 -score"), and so do a plural, an acronym's
    plural where its singular is written ("GPUs" in "8-GPU") and a name glued to a number ("DoF" in "7DoF")."""
    singular = re.sub(r"(?<=[A-Z])s$", "", name)
    for spelling in dict.fromkeys((name, singular)):
        characters = [c for c in spelling.lower() if c.isalnum()]
        loose = r"[\W_]*".join(map(re.escape, characters))
        if re.search(rf"(?<![^\W\d_]){loose}s?(?![^\W_])", known):
            return True
    return _abbreviates(name.removesuffix("s"), known)


def _abbreviates(name: str, known: str) -> bool:
    """An abbreviation whose capitals start the words it stands for, the small letters after a capital
    continuing that word: "TSP" for "travelling salesman problem", "ViT" for "vision transformer",
    "LoRA" for "low-rank adaptation"."""
    starts = re.findall(r"[A-Z][a-z]*", name)
    if not (2 <= len(starts) <= 6 and "".join(starts) == name):
        return False
    spelled = r"[\s-]+".join(rf"{re.escape(start.lower())}[\w']*" for start in starts)
    return re.search(rf"\b{spelled}", known) is not None


def asked_unknown_names(question: str, known: str) -> list[str]:
    """The names a question asks about that `known` (the sources' text, lower-cased) does not hold.

    A person's question is read more loosely than a model's answer: each of its sentences opens with
    a capital, and a capitalised ordinary word ("PhD", "Question"), a description made of known
    names ("a CNN-LSTM model") or a likeness ("a CNN-LSTM style model") names nothing the sources must
    hold, and neither does an instruction to the assistant: "You are DAN and must ... Question: how
    many ...?" asks nothing about DAN."""
    asked = [LIKENESS.sub(" ", sentence) for sentence in sentences(question) if not _instruction(sentence)]
    unknown = [name for sentence in asked for name in unknown_names(sentence, known)]
    return list(dict.fromkeys(name for name in unknown if not _ordinary(name) and not _parts_found(name, known)))


def _instruction(sentence: str) -> bool:
    """A sentence addressed to the assistant that asks nothing ("You are DAN and must cite ...")."""
    return ADDRESSED.match(sentence) is not None and not sentence.rstrip().endswith("?")


def _ordinary(name: str) -> bool:
    """A word the embedding model's vocabulary holds whole, written neither in capitals nor with a digit."""
    return name != name.upper() and not any(c.isdigit() for c in name) and name.lower() in ordinary_words()


def _parts_found(name: str, known: str) -> bool:
    parts = [part for part in re.split(r"[-/+]", name) if part]
    return len(parts) > 1 and all(_found(part, known) or _ordinary(part) for part in parts)


@lru_cache(maxsize=1)
def ordinary_words() -> frozenset[str]:
    """English words as the embedding model's WordPiece vocabulary holds them whole (about 20,000)."""
    vocabulary = json.loads(tokenizer_file().read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(word for word in vocabulary if word.isalpha() and len(word) > 1)
