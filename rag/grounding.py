"""Hold an answer to its sources, sentence by sentence.

A small local model sometimes invents numbers, cites the wrong source or none. Numbers are the
checkable part of a claim: a sentence whose numbers appear in no source is dropped, and its
citation goes to the source that does hold them. A sentence without a citation gets the source
it draws its words from, when one clearly stands out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.citations import CITATION, cited_numbers
from rag.names import unknown_names
from rag.quantities import claimed_numbers, numbers, numbers_held
from rag.text import GAP, joined, rejoin, sentences, stems, words

CITATION_RUN = re.compile(r"(?:,?\s*(?:and\s+)?\[\d+(?:\s*[,;–-]\s*\d+)*\])+")
LETTERS = re.compile(r"[^\W\d_]{2,}")
MIN_CLAIM_WORDS = 3
"""A sentence with fewer content words ("Not stated in the abstract.") claims too little to measure."""
MIN_SHARED_WORDS = 3
MIN_COVERAGE = 0.5
"""A source must hold this share of a sentence's content words (stemmed; the question's words count
as held): a sentence true of another paper shares few words with this one. On the benchmark cases,
sentences true of another paper reach 0.00-0.36 and supported ones 0.54 or more."""
NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|cannot)\b|n't\b", re.I)
NOT_ONLY = re.compile(r"\bnot\s+only\b", re.I)
NEGATED_WORDS = 4
"""Words after a negation that it governs: 3 missed "can not be accomplished by standard Hebbian networks"
(benchmarks/grounding_cases.jsonl h095); 5 read "no loss in performance using Network Architecture
Search" as negating the search (tuning split t002). Both benchmark splits score the same at 3 to 6."""
MIN_ALIGNED_WORDS = 3
"""A source sentence sharing this many content words with a claim is the one the claim restates."""
PRAISE = [
    re.compile(pattern, re.I)
    for pattern in (r"state[\s-]of[\s-]the[\s-]art", r"\boutperform", r"\bthe first\b", r"\bbest\b", r"\bsurpass", r"\bsuperior")
]
"""Evaluative claims are checkable like numbers: the source must make the same one."""
ECHO_WORDS = 5
"""A sentence sharing a run of this many words with the instructions repeats the prompt or its example."""
AUTHORED_BY = re.compile(
    r",?\s+by\s+(?:[A-Z][\w'-]+\s+){1,3}?(?:et\s+al\b\.?|and\s+(?:colleagues|co-?authors|coworkers|[A-Z][\w'-]+))")
"""An attribution to authors: "by Xiang et al.", "by Smith and Jones"."""
SEVERAL = re.compile(r"\b(papers|works|studies|both|each|all)\b", re.I)
"""A sentence that speaks of several papers means to cite several."""
MIN_TITLE_CHARACTERS = 12
"""A shorter title ("Neuroformer") is a name the sentence uses, not a title it quotes."""
WEAK_CITATION = 0.5
"""Of several sources cited together, one matching less than this share of the best match's
distinctive words is dropped: small models tend to cite every source they were given."""


@dataclass
class Grounded:
    text: str
    removed_statements: list[str] = field(default_factory=list)


def ground(answer: str, question: str, sources: dict[int, str], papers_text: str = "") -> Grounded:
    """`sources` maps each source number to the text the model was shown; `papers_text` is the rest
    of what those papers say (their whole abstracts), where a name counts as found too."""
    source_words = {n: words(text) for n, text in sources.items()}
    rarity = _rarity(source_words)
    known = "\n".join([*sources.values(), papers_text]).lower()
    kept: list[str] = []
    removed: list[str] = []
    titles = {n: text.split("\n", 1)[0].strip() for n, text in sources.items()}
    for sentence in sentences(answer):
        if not LETTERS.search(sentence):  # a list's "1." split off by itself
            continue
        sentence, attribution = _without_made_up_authors(sentence, known)
        if attribution:
            removed.append(attribution)
        claim, named = _titles_set_aside(sentence, titles)
        if unknown_names(claim, known):
            removed.append(_uncited(sentence))
            continue
        cited = [n for m in CITATION.findall(sentence) for n in cited_numbers(m) if n in sources]
        if not cited and len(named) == 1:
            cited, sentence = named, _recite(sentence, named[0])
        if cited and supported(claim, "\n".join(sources[n] for n in dict.fromkeys(cited)), question, papers_text):
            if len(set(cited)) > 1 and not SEVERAL.search(sentence):
                sentence = _drop_weak_citations(sentence, cited, source_words, rarity)
        elif len(named) == 1:  # a line naming one paper and telling of another is wrong whichever it cites
            removed.append(_uncited(sentence))
            continue
        elif holders := [n for n, text in sources.items() if supported(claim, text, question, papers_text)]:
            best = _closest(claim, holders, source_words)
            if cited or claimed_numbers(claim, question) or _shared(claim, source_words[best]) >= MIN_SHARED_WORDS:
                sentence = _recite(sentence, best)
        elif cited or claimed_numbers(claim, question):
            removed.append(_uncited(sentence))
            continue
        kept.append(sentence)
    return Grounded(rejoin(kept), removed)


def _titles_set_aside(sentence: str, titles: dict[int, str]) -> tuple[str, list[int]]:
    """The sentence without the sources' titles it quotes, which it is given rather than claims (a title's
    "100k Steps-Per-Second" is held by no sentence of the abstract), and the sources so named: a list
    line "- Galactic: Scaling ...: a framework for ..." written without its [n] cites the paper it names."""
    named = [n for n, title in titles.items() if len(title) >= MIN_TITLE_CHARACTERS and title.lower() in sentence.lower()]
    claim = sentence
    for n in named:
        claim = re.sub(re.escape(titles[n]), " ", claim, flags=re.I)
    return claim, named


def _without_made_up_authors(sentence: str, known: str) -> tuple[str, str]:
    """A small model adds authors it does not know ("... Embodied Control" by Arti et al. copies ...):
    when they are the sentence's only unknown names, the attribution goes and the claim stays, else
    a right answer became a refusal (tuning split t018). Returns the sentence and what was cut."""
    match = AUTHORED_BY.search(sentence)
    bare = AUTHORED_BY.sub("", sentence)
    if not match or not unknown_names(match.group(0), known) or unknown_names(bare, known):
        return sentence, ""
    return bare, match.group(0).strip(" ,")


def supported(sentence: str, source: str, question: str = "", known: str = "") -> bool:
    """Whether `source` holds what `sentence` claims: the one decision `ground` removes sentences by,
    and the one benchmarks/grounding.py measures. `known` is more of the same paper's text, where a
    name counts as found; numbers the question asked about are not the sentence's claims."""
    if unknown_names(sentence, f"{source}\n{known}".lower()):
        return False
    claimed = claimed_numbers(sentence, question)
    if claimed and not numbers_held(claimed, sentence, source, question):
        return False
    return (
        stem_coverage(sentence, f"{source}\n{question}") >= MIN_COVERAGE
        and not _negation_dropped(sentence, source)
        and all(pattern.search(source) for pattern in PRAISE if pattern.search(sentence))
    )


def _negation_dropped(sentence: str, source: str) -> bool:
    """The source sentence the claim restates says "not" and the claim does not: "LIB yields
    improvements" from "LIB does not yield improvements"."""
    if _negated(sentence):
        return False
    claim = stems(sentence)
    overlap, restated = max(((len(claim & stems(s)), s) for s in sentences(source)), default=(0, ""))
    return overlap >= MIN_ALIGNED_WORDS and any(stems(negated) & claim for negated in _negated_words(restated))


def _negated_words(text: str) -> list[str]:
    """The words a "not" or "no" governs: "does not yield improvements" negates yielding, "with minimal
    or no loss in performance" only the loss (tuning split t002 lost a right list line to that "no")."""
    text = NOT_ONLY.sub(" ", text)
    return [" ".join(text[match.end():].split()[:NEGATED_WORDS]) for match in NEGATION.finditer(text)]


def _negated(text: str) -> bool:
    return NEGATION.search(NOT_ONLY.sub(" ", text)) is not None


def citing_sentences(text: str, number: int) -> list[str]:
    return [sentence for sentence in sentences(text) if f"[{number}]" in sentence]


def supporting_passage(claims: list[str], excerpt: str) -> str:
    """The passage a citation rests on: for each claim citing the source, the sentence of the
    source's excerpt (the text the model saw) that shares the most of its words."""
    candidates: list[str] = []
    for piece in excerpt.split(GAP):
        candidates += [*sentences(piece), ""]  # the blank keeps sentences across a gap apart in `joined`
    vocabularies = [words(candidate) for candidate in candidates]
    chosen = []
    for claim in map(words, claims):
        chosen.append(max(range(len(candidates)), key=lambda i: (len(claim & vocabularies[i]), bool(candidates[i]))))
    return joined(candidates, chosen or [0]) if any(candidates) else excerpt


def unsupported_sentences(text: str, source: str) -> list[str]:
    """Sentences of a text written from one source (a digest, a compare cell) that name or number
    something the source does not."""
    known, found = source.lower(), numbers(source)
    return [s for s in sentences(text) if unknown_names(s, known) or not numbers(s) <= found]


def echoes(said: list[str], instructions: str) -> list[str]:
    """The sentences that repeat the instructions: prompt leaks and parroted examples are not
    answers, whatever the question asked for."""
    prompt_runs = _runs(instructions)
    return [sentence for sentence in said if _runs(sentence) & prompt_runs]


def _runs(text: str) -> set[tuple[str, ...]]:
    tokens = re.findall(r"\w+", CITATION.sub(" ", text).lower())
    return {tuple(tokens[i : i + ECHO_WORDS]) for i in range(len(tokens) - ECHO_WORDS + 1)}


def _rarity(source_words: dict[int, set[str]]) -> dict[str, float]:
    """Words found in fewer sources tell sources apart: weight 1/(number of sources with it)."""
    counts: dict[str, int] = {}
    for vocabulary in source_words.values():
        for word in vocabulary:
            counts[word] = counts.get(word, 0) + 1
    return {word: 1.0 / count for word, count in counts.items()}


def _drop_weak_citations(sentence: str, cited: list[int], source_words, rarity) -> str:
    claim = words(sentence)
    weight = {n: sum(rarity.get(w, 0.0) for w in claim & source_words.get(n, set())) for n in set(cited)}
    best = max(weight.values())
    keep = [n for n in dict.fromkeys(cited) if best and weight[n] >= WEAK_CITATION * best]
    if len(keep) == len(set(cited)):
        return sentence

    def rewrite(run: re.Match[str]) -> str:
        kept = [n for marker in CITATION.findall(run.group(0)) for n in cited_numbers(marker) if n in keep]
        return " " + "".join(f"[{n}]" for n in kept) if kept else ""

    return CITATION_RUN.sub(rewrite, sentence)


def stem_coverage(sentence: str, source: str) -> float:
    claim = stems(sentence)
    return len(claim & stems(source)) / len(claim) if len(claim) >= MIN_CLAIM_WORDS else 1.0


def _shared(sentence: str, vocabulary: set[str]) -> int:
    return len(words(sentence) & vocabulary)


def _closest(sentence: str, candidates: list[int], source_words: dict[int, set[str]]) -> int | None:
    return max(candidates, key=lambda n: _shared(sentence, source_words[n]), default=None)


def _uncited(sentence: str) -> str:
    """The sentence without its citation markers, and without the gaps they leave."""
    bare = re.sub(r"[ \t]{2,}", " ", CITATION.sub("", sentence))
    return re.sub(r"\s+([.,;:!?])", r"\1", bare).strip()


def _recite(sentence: str, number: int | None) -> str:
    """Replace the sentence's citations with [number], placed before its final punctuation."""
    bare = _uncited(sentence)
    if number is None:
        return bare
    end = len(bare) - len(bare.rstrip(".!?"))
    return f"{bare[: len(bare) - end].rstrip()} [{number}]{bare[len(bare) - end:]}"
