"""An abstract's key terms: the names a reader would search for or tell the paper apart by.

A card's cells are the model's summary, short enough that the abstract's own names fall out ("the
network handles patterns hierarchically" for "(hierarchical regime)"); the terms row keeps them, in the
abstract's words, so two cards side by side show what each paper calls things. Precision and recall on
labelled abstracts: benchmarks/terms.py.
"""

from __future__ import annotations

import re
from collections import Counter

from rag.text import STOPWORDS, sentences

MAX_TERMS = 8
REPEATED = 2
NOT_IN_A_PAIR = frozenset(
    "over between across through within without among most more less each all any some such very only same "
    "different several many few other both not can may will would could should where which while whose when "
    "every least one two three".split()
)
"""Words that join or qualify ("transfers over", "most influential") rather than name a thing."""
HEADS = (
    "approximation|interpolation|model zoo|model|models|network|networks|regime|layers?|dataset|benchmark|"
    "algorithm|method|framework|scheme|loss|attention|architecture|transformers?|features|kernels?|operators?|"
    "representations?|learning|search|distillation|quantization|encoder|decoder|module|block|test|score"
)
CAPITALISED = r"(?:[A-Z][\w'’+.-]*[\w+]|[A-Z])"
NAMED = re.compile(rf"{CAPITALISED}(?:[ -]{CAPITALISED})*(?: (?:{HEADS})\b)?")
"""A run of capitalised words, with the lower-case head noun that makes it a thing ("Plefka approximation")."""
IN_PARENTHESES = re.compile(r"([\w'’-]+(?: [\w'’-]+){0,3}) \(([^()]{2,40})\)")
COINED = re.compile(r"\b(?:called|termed|dubbed|coin(?:ed)?|name[d]?|we term|we call)\s+(?:it\s+|them\s+|the\s+)?"
                    r"[\"“']?([\w-]+(?: [\w-]+){0,2})")
HYPHENATED = re.compile(rf"\b([a-z]+-[a-z]+(?:-[a-z]+)* (?:{HEADS}))\b")
GENERIC = frozenset(
    "we our in this the a an it these however moreover furthermore finally further specifically additionally "
    "or and how what which why when where does do can is are experiments results ai ml dl cnn cnns gan gans "
    "rnn rnns dnn dnns".split()
)
"""Words that open no term, and general kinds of model the labelled terms leave out ("CNNs", "AI")."""
GENERIC_TERMS = re.compile(
    r"^(?:(?:convolutional |deep |artificial )?neural networks?(?: models?)?|deep learning|machine learning|"
    r"artificial intelligence|computer vision|transformers?)$", re.I)
NOT_A_TERM = re.compile(r"^(?:e\.g\.|i\.e\.|et al|see|\d[\d.,%x× ]*|[a-z]$)|[_$\\{}]", re.I)
"""Abbreviations, numbers and LaTeX ("O_i", "W_") are no terms."""


def key_terms(abstract: str) -> list[str]:
    """Up to MAX_TERMS terms, in the order the abstract first gives them, each as the abstract writes it."""
    found: list[str] = []
    for sentence in sentences(abstract):
        found += _in_parentheses(sentence) + COINED.findall(sentence) + _named(sentence) + HYPHENATED.findall(sentence)
    found += _repeated(abstract)
    terms: list[str] = []
    for term in found:
        term = term.strip(" ,.;:'\"“”’")
        if _is_term(term) and not any(term.lower() in kept.lower() for kept in terms):
            terms = [kept for kept in terms if kept.lower() not in term.lower()] + [term]
    return terms[:MAX_TERMS]


def _in_parentheses(sentence: str) -> list[str]:
    """"Classification-by-Components (CBC)" gives the long form; "... (hierarchical regime)" the words inside."""
    terms = []
    for before, inside in IN_PARENTHESES.findall(sentence):
        if inside.lower() in GENERIC:
            continue
        letters = [c for c in inside if c.isalpha()]
        if inside.isupper() or (letters and sum(c.isupper() for c in letters) >= 2 and " " not in inside):
            long_form = _long_form(before, inside)
            terms.append(f"{long_form} ({inside})" if long_form else inside)
        elif len(inside.split()) <= 3 and not re.search(r"\d|,|\bi\.e\b|\be\.g\b", inside):
            terms.append(inside)
    return terms


def _long_form(before: str, acronym: str) -> str:
    """The fewest last words before "(CBC)" whose initials spell it: "Classification-by-Components"."""
    words = before.split()
    wanted = re.sub(r"s$", "", acronym).upper()
    for count in range(1, len(words) + 1):
        initials = "".join(part[0] for word in words[-count:] for part in re.split(r"-", word) if part).upper()
        if initials == wanted:
            return " ".join(words[-count:])
    return ""


def _named(sentence: str) -> list[str]:
    """Capitalised runs not at the sentence's start, unless written as a name there ("MobileDets")."""
    terms = []
    for match in NAMED.finditer(sentence):
        term = match.group(0)
        if match.start() == 0 and not re.search(r"\w[A-Z0-9]", term.split()[0]):
            continue
        terms.append(term)
    return terms


def _repeated(abstract: str) -> list[str]:
    """Two content words the abstract writes together more than once ("robustness guarantees"): what
    it keeps coming back to, in its own words."""
    tokens = re.findall(r"[A-Za-z][\w-]*", abstract)
    pairs = [(a, b) for a, b in zip(tokens, tokens[1:])
             if not {a.lower(), b.lower()} & (STOPWORDS | NOT_IN_A_PAIR) and len(a) > 2 and len(b) > 2
             and not b.endswith("ed")]
    counts = Counter(f"{a} {b}" for a, b in pairs)
    return [pair for pair, count in counts.items() if count >= REPEATED]


def _is_term(term: str) -> bool:
    words = term.split()
    return (0 < len(words) <= 5 and not NOT_A_TERM.search(term) and term.lower() not in GENERIC
            and not GENERIC_TERMS.match(term)
            and words[0].lower() not in GENERIC and len(term) > 1)
