"""A listing at a glance: one file's papers (or the library's) in 4 to 12 labelled topics, one line each.

The topics are k-means groups of the papers' vectors already in the store (`rag.clusters`), with k
chosen by silhouette, so every paper is in exactly one topic whatever the model writes: the model
only names them. Each topic is named by one short call over the TL;DRs of its most central papers
(from their cards, written on first use) and the topic's most distinctive words (c-TF-IDF); a name
that is empty, not 2 to 6 words, already taken, made only of words most topics share ("Neural
networks" in a listing of neural networks) or naming what those papers do not is replaced by those words.
Names are cached per TL;DRs shown, model and prompt, so a second briefing asks the model nothing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from rag import clusters
from rag.cache import DiskCache
from rag.cards import paper_card
from rag.grounding import unsupported_sentences
from rag.llm import capped, describe_backend, structured
from rag.paper import Paper
from rag.prompts import load_prompt
from rag.replies import Briefing, BriefPaper, BriefTopic, Card
from rag.settings import Settings
from rag.text import STEM, STOPWORDS, WORD

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

MIN_TOPICS, MAX_TOPICS = 4, 12
PAPERS_PER_TOPIC = 3
"""Past the fewest topics, at most one topic per this many papers: a topic is a group, not a paper."""
LABEL_WORDS = range(2, 7)
LABEL_PAPERS = 5
"""TL;DRs the model reads to name a topic: its most central papers', which keeps the call short."""
FALLBACK_WORDS = 3
LABEL_TOKENS = 48
"""Room for {"label": "..."} of six long words; a reply cut here is no JSON, so its label falls back."""


class TopicLabel(BaseModel):
    label: str = Field(description="The topic the papers share, in 2 to 6 words.")


def topic_counts(n_papers: int) -> range:
    """The numbers of topics to try: 4 to 12, at most one per `PAPERS_PER_TOPIC` papers beyond 4, and
    never more than the papers (so 3 papers are 3 topics of one)."""
    most = max(MIN_TOPICS, min(MAX_TOPICS, n_papers // PAPERS_PER_TOPIC))
    return range(min(MIN_TOPICS, n_papers), min(most, n_papers) + 1)


def brief(papers: list[Paper], vectors: dict[str, np.ndarray], model: Callable[[], BaseChatModel],
          settings: Settings, progress: Callable[[int, int], None] | None = None) -> Briefing:
    """`papers` (with their stored `vectors`) in labelled topics, largest first, papers by title.
    `progress` hears (done, total) over the cards, then the labels."""
    papers = sorted(papers, key=lambda paper: paper.id)  # the same input in the same order: the same topics
    points = np.array([vectors[paper.id] for paper in papers])
    groups = clusters.best_grouping(points, topic_counts(len(papers)))
    where = clusters.plane(points)
    members = sorted((np.flatnonzero(groups == group) for group in np.unique(groups)),
                     key=lambda topic: (-len(topic), min(papers[i].title.casefold() for i in topic)))
    total = len(papers) + len(members)
    cards: list[Card] = []
    for paper in papers:
        cards.append(paper_card(paper, model, settings, digest=False))
        if progress:
            progress(len(cards), total)
    texts = [" ".join(f"{cards[i].title} {cards[i].tldr}" for i in topic) for topic in members]
    used = Counter(w for text in texts for w in content_words(text))
    shared = {w for w, n in used.items() if n > len(texts) / 2} if len(texts) >= MIN_TOPICS else set()
    labels: list[str] = []
    for number, topic in enumerate(members):
        central = topic[np.argsort(-(points[topic] @ points[topic].mean(axis=0)), kind="stable")][:LABEL_PAPERS]
        fallback = distinctive_words(texts, number)
        said = written_label([cards[i].tldr for i in central], fallback.lower(), model, settings)
        labels.append(checked_label(said, texts[number], labels, shared) or fallback)
        if progress:
            progress(len(papers) + number + 1, total)
    return Briefing(topics=[
        BriefTopic(label=label, papers=sorted(
            (BriefPaper(id=papers[i].id, title=papers[i].title, tldr=cards[i].tldr, x=where[i, 0], y=where[i, 1])
             for i in topic), key=lambda paper: paper.title.casefold()))
        for label, topic in zip(labels, members)
    ])


def written_label(tldrs: list[str], words: str, model: Callable[[], BaseChatModel], settings: Settings) -> str:
    """The model's name for the topic of these TL;DRs, hinted with the topic's distinctive `words`, as
    it wrote it ('' when it gave none)."""
    prompt = load_prompt("brief_topic", settings.prompts_dir)
    messages = prompt.messages(summaries="\n".join(f"- {tldr}" for tldr in tldrs), words=words)
    cache = DiskCache(settings.topic_label_cache_dir, describe_backend(settings), prompt.version, messages[1][1])
    try:
        return TopicLabel.model_validate(cache.read()).label
    except ValidationError:
        pass
    written = structured(capped(model(), LABEL_TOKENS), messages, TopicLabel, settings)
    label = written.label if written else ""
    cache.write({"label": label})  # none given is kept too: the fallback, without asking again next time
    return label


def checked_label(label: str, topic_text: str, taken: list[str], shared: set[str] = frozenset()) -> str:
    """The label tidied (quotes, a 'Topic:' prefix, end punctuation off), or '' when it is not 2 to 6
    words, repeats another topic's, says only what most topics share (`shared` words: "Neural
    networks" for a listing of neural networks), or names or numbers what the topic's titles and
    TL;DRs do not."""
    label = re.sub(r"\s+", " ", label).strip().strip("\"'“”‘’`*#.:;,- ")
    label = re.sub(r"^(topic|label)\s*:\s*", "", label, flags=re.I)
    if len(label.split()) not in LABEL_WORDS or label.casefold() in {t.casefold() for t in taken}:
        return ""
    if content_words(label) <= shared:
        return ""
    if unsupported_sentences(label, topic_text):
        return ""
    return label[0].upper() + label[1:]


def content_words(text: str) -> set[str]:
    """Words one stem each, lower-cased, without stopwords: "networks" and "network" are one."""
    return {STEM.sub("", word) for word in WORD.findall(text.lower()) if word not in STOPWORDS}


def distinctive_words(texts: list[str], topic: int) -> str:
    """The words most frequent in one topic's text and found in fewest other topics (c-TF-IDF: the
    topics are the documents; more frequent first among words all topics use), one per stem, so a word
    every topic uses ("neural") names none when there are others."""
    counts = [Counter(w for w in WORD.findall(text.lower()) if w not in STOPWORDS) for text in texts]
    topics_with = Counter(word for count in counts for word in count)
    score = {word: (n * math.log(len(texts) / topics_with[word]), n) for word, n in counts[topic].items()}
    best: dict[str, str] = {}
    for word in sorted(score, key=lambda word: (-score[word][0], -score[word][1], word)):
        best.setdefault(STEM.sub("", word), word)
        if len(best) == FALLBACK_WORDS:
            break
    return ", ".join(best.values()).capitalize() if best else "Other papers"
