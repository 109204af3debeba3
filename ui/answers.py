"""Answers on the page: cited text whose [n] links to numbered source cards, streamed or kept."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

import common
from rag.ask import Turn
from rag.errors import PapersError
from rag.replies import Answer, Source
from rag.wording import removed_citations_note, removed_note
from render import error, lines, linked, md


def source_card(source: Source, passage: str, *, anchor: str, key: str | None = None) -> None:
    """A numbered source: title (the target of the answer's [n] links), the passage, and actions.

    Without `key` there are no actions: a click while an answer streams would abandon it.
    """
    with st.container(border=True):
        st.subheader(md(f"[{source.n}] {source.title}"), anchor=anchor)
        st.markdown(md(passage))
        st.caption(md(f"id {source.id} · similarity {source.similarity:.2f}"))
        if key:
            with st.container(horizontal=True):
                if st.button("Digest", key=f"{key}-digest", icon=":material/summarize:"):
                    common.open_paper("digest", "digest_paper", source.id)
                if st.button("Compare with…", key=f"{key}-compare", icon=":material/compare_arrows:"):
                    common.open_paper("compare", "compare_a", source.id)


def removed_caption(statements: Sequence[str], against: str) -> None:
    """Say what the grounding checks took out, so a sentence seen while streaming does not vanish unexplained."""
    if note := removed_note(list(statements), against):
        st.caption(lines(note))


def show_answer(answer: Answer, key: str) -> None:
    """The answer with each [n] linking to its card below, then the cards of the cited sources
    with the passage each citation rests on; sources not cited fold away."""
    anchors = {c.n: f"{key}-source-{c.n}" for c in answer.citations}
    st.markdown(linked(answer.text, anchors))
    if note := removed_citations_note(answer.removed_citations):
        st.caption(md(note))
    removed_caption(answer.removed_statements, "the sources")
    by_number = {source.n: source for source in answer.sources}
    for citation in answer.citations:
        source_card(by_number[citation.n], citation.passage, anchor=anchors[citation.n], key=f"{key}-{citation.n}")
    others = [source for source in answer.sources if source.n not in anchors]
    if others:
        with st.expander(f"Other sources retrieved ({len(others)})"):
            for source in others:
                source_card(source, source.excerpt, anchor=f"{key}-source-{source.n}", key=f"{key}-{source.n}")


def ask_live(question: str, history: Sequence[Turn] = (), *, prompt_name: str = "ask") -> Answer | None:
    """Sources appear as soon as retrieval is done; the answer then streams above them.

    Returns None after a failure, which is shown with the sources still in view.
    """
    try:
        if history:
            common.load_model()  # condensing a follow-up needs the model
        stream = common.library().ask_stream(question, history, prompt_name)
    except PapersError as exc:
        error(str(exc))
        return None
    answer_box = st.container()
    if stream.sources:
        st.caption("Sources")
    for source in stream.sources:
        source_card(source, source.excerpt, anchor=f"live-source-{source.n}")
    with answer_box:
        done = common.stream_text(stream)
    return stream.answer if done else None
