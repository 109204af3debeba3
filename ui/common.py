"""What every page shares: settings, the one Retriever, the sidebar, and safe rendering.

Library text (titles, abstracts, passages, answers) is never trusted as Markdown: `md` escapes
it, so an abstract cannot inject links, images, HTML or Streamlit directives into the page.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from langchain_core.language_models import BaseChatModel

from rag.ask import Answer, AnswerStream, Turn
from rag.errors import PapersError
from rag.evidence import Source
from rag.ingest import IngestReport, ingest
from rag.llm import describe_backend, get_chat_model
from rag.paper import Paper
from rag.retrieval import Retriever
from rag.settings import Settings

# Not in `pages/`: Streamlit runs a folder of that name as an old-style multipage app until
# st.navigation is first called, so the first visit to /digest after a start would skip app.py.
PAGES = {
    "chat": "views/chat.py",
    "digest": "views/digest.py",
    "compare": "views/compare.py",
    "library": "views/library.py",
}
MODEL_STAGES = {
    "join": "Joining the bundled model's parts",
    "verify": "Checking the model file",
    "load": "Loading the model into memory",
}
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# After parsing, whatever the escapes, Streamlit links URLs and e-mail addresses and turns
# :shortcodes: into emoji and icons. An invisible word joiner before the last character of each
# such pattern stops that, and only ever lands among the newest characters of a growing text.
_LINKED_AFTER_PARSING = re.compile(r"(?<=:/)(?=/)|(?<=www)(?=\.)|(?=@)|(?<=:)\w[\w/+-]*(?=:)", re.IGNORECASE)
WORD_JOINER = "\u2060"
_ESCAPED_CITATION = re.compile(r"\\\[(\d+)\\\]")
_ESCAPED_LIST_ITEM = re.compile(r"^\\- ", re.M)


def md(text: str) -> str:
    """`text` to show literally with st.markdown.

    CommonMark lets a backslash escape any ASCII punctuation mark, so escaping all of them
    leaves no syntax at all: no links, images, HTML, emphasis, math or directives.
    """
    joined = _LINKED_AFTER_PARSING.sub(lambda match: match.group(0) + WORD_JOINER, text)
    return _PUNCTUATION.sub(r"\\\1", joined)


def md_stream(chunks: Iterable[str]) -> Iterator[str]:
    """`md` of a text arriving in chunks, as chunks: escaping each chunk alone would miss a URL
    split between two. md(text) always extends md(text[:i]), so each step adds to the last."""
    text, shown = "", ""
    for chunk in chunks:
        text += chunk
        escaped = md(text)
        yield escaped[len(shown):]
        shown = escaped


def error(message: str) -> None:
    """An error message, escaped: it may quote a title, a record or a path."""
    st.error(md(message), icon=":material/error:")


def linked(text: str, anchors: dict[int, str]) -> str:
    """Escaped `text` in which each cited [n] links to the anchor of its source card, and a line
    opening with "- " (an answer's one line per paper) stays a list item."""

    def link(match: re.Match[str]) -> str:
        anchor = anchors.get(int(match.group(1)))
        return f"[{match.group(0)}](#{anchor})" if anchor else match.group(0)

    return _ESCAPED_LIST_ITEM.sub("- ", _ESCAPED_CITATION.sub(link, md(text)))


class SharedRetriever(Retriever):
    """The process's one Retriever, used by every session.

    Its BM25 index is reloaded lazily and rebuilt by an ingest, neither meant to happen under a
    running search, so searches and ingests take turns on `lock` (a search takes milliseconds).
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.lock = threading.Lock()

    def search(self, *args, **kwargs):
        with self.lock:
            return super().search(*args, **kwargs)


@st.cache_resource
def settings() -> Settings:
    """Read once per process, from PAPERS_* variables and .env, as the CLI reads them."""
    return Settings()


@st.cache_resource
def retriever() -> SharedRetriever:
    return SharedRetriever(settings())


def papers() -> list[Paper]:
    return retriever().store.papers()


def load_model() -> BaseChatModel:
    """The shared chat model; its first load shows each stage (join, verify, load) in a status box."""
    with contextlib.ExitStack() as stack:
        box = bar = None

        def progress(stage: str, fraction: float) -> None:
            nonlocal box, bar
            if box is None:
                box = stack.enter_context(st.status("Preparing the language model (first use only)…", expanded=True))
                bar = box.progress(0.0)
            bar.progress(min(max(fraction, 0.0), 1.0), text=MODEL_STAGES.get(stage, stage))

        model = get_chat_model(settings(), progress)
        if box is not None:
            box.update(label="Language model ready", state="complete", expanded=False)
        return model


def stream_text(chunks: Iterable[str], *, needs_model: bool = True, into: DeltaGenerator | None = None) -> bool:
    """Write model text as it arrives, escaped, `into` a placeholder the caller may later overwrite;
    a failure is shown, and False returned.

    The stream is closed even when Streamlit stops the script midway, so the model is freed
    for other sessions at once.
    """
    try:
        if needs_model:
            load_model()
        with contextlib.closing(iter(chunks)) as parts:
            (into or st).write_stream(md_stream(parts))
    except PapersError as exc:
        error(str(exc))
        return False
    return True


def ingest_files(paths: Sequence[Path], keep_partial: bool = False) -> IngestReport:
    """Ingest with a progress bar; searches wait meanwhile, as the BM25 index is rebuilt under them.
    A file whose records are mostly rejected is refused unless `keep_partial`."""
    with st.status("Adding papers…", expanded=True) as status:
        bar = st.progress(0.0, text="Reading the file")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"Embedding papers: {done} of {total}")

        with retriever().lock:
            report = ingest(list(paths), settings(), progress=progress, keep_partial=keep_partial)
        status.update(label=f"Done: {report.summary()}", expanded=False)
    return report


# --- papers: pickers, abstracts, and opening a paper on another page -------------------------------


def open_paper(page: str, picker_key: str, paper_id: str) -> NoReturn:
    """Switch to `page` with `paper_id` chosen in its picker `picker_key`."""
    st.session_state[f"open:{picker_key}"] = paper_id
    st.switch_page(PAGES[page])


def paper_picker(label: str, library: Sequence[Paper], key: str) -> str | None:
    """A selectbox of titles, searchable by typing; a paper sent by `open_paper` comes chosen."""
    titles = {paper.id: paper.title for paper in library}
    if wanted := st.session_state.pop(f"open:{key}", None):
        st.session_state[key] = wanted
    if st.session_state.get(key) not in titles:
        st.session_state.pop(key, None)  # removed from the library since it was chosen
    return st.selectbox(
        label, list(titles), index=None, format_func=titles.__getitem__, key=key,
        placeholder="Type to search the titles",
    )


def show_paper(paper: Paper) -> None:
    st.subheader(md(paper.title), anchor=False)
    details = [", ".join(paper.authors), paper.date, paper.source, f"id {paper.id}"]
    st.caption(md(" · ".join(d for d in details if d)))
    st.markdown(md(paper.abstract))


# --- answers: source cards and cited answers ---------------------------------------------------------


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
                    open_paper("digest", "digest_paper", source.id)
                if st.button("Compare with…", key=f"{key}-compare", icon=":material/compare_arrows:"):
                    open_paper("compare", "compare_a", source.id)


def removed_caption(statements: Sequence[str], against: str) -> None:
    """Say what the grounding checks took out, so a sentence seen while streaming does not vanish unexplained."""
    if statements:
        listed = " · ".join(statements)
        st.caption(md(f"Removed, not supported by {against}: {listed}"))


def show_answer(answer: Answer, key: str) -> None:
    """The answer with each [n] linking to its card below, then the cards of the cited sources
    with the passage each citation rests on; sources not cited fold away."""
    anchors = {c.n: f"{key}-source-{c.n}" for c in answer.citations}
    st.markdown(linked(answer.text, anchors))
    if answer.removed_citations:
        removed = ", ".join(f"[{n}]" for n in answer.removed_citations)
        st.caption(md(f"Removed citations of sources the model was not given: {removed}"))
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
            load_model()  # condensing a follow-up needs the model
        stream = AnswerStream(
            question, history, settings=settings(), retriever=retriever(), prompt_name=prompt_name
        )
    except PapersError as exc:
        error(str(exc))
        return None
    answer_box = st.container()
    if stream.sources:
        st.caption("Sources")
    for source in stream.sources:
        source_card(source, source.excerpt, anchor=f"live-source-{source.n}")
    with answer_box:
        done = stream_text(stream)
    return stream.answer if done else None


# --- every page: the sidebar and the empty library ------------------------------------------------------


def sidebar() -> None:
    current = settings()
    label, where = (
        ("Chroma server", f"{current.chroma_host}:{current.chroma_port}")
        if current.chroma_host
        else ("Library folder", str(current.data_dir))
    )
    with st.sidebar:
        st.markdown(f"**Model**  \n{md(describe_backend(current))}")
        st.markdown(f"**Library**  \n{len(papers())} papers · up to {current.top_k} sources per answer")
        st.markdown(f"**{label}**  \n{md(where)}")


def empty_library_hint() -> None:
    """How to fill an empty library, with a button that adds the bundled sample."""
    sample = settings().sample_library
    st.info(
        "The library is empty. Add the bundled sample library with the button below, upload a "
        "papers file on the Library page, or run:\n\n"
        f"```\npapers ingest {sample}\n```"
    )
    if st.button("Add the sample library", type="primary", icon=":material/library_add:"):
        try:
            ingest_files([sample])
        except PapersError as exc:
            error(str(exc))
        else:
            st.rerun()


def require_papers() -> list[Paper]:
    """The library's papers; with none, the hint to add some, and the page stops there."""
    library = papers()
    if not library:
        empty_library_hint()
        st.stop()
    return library
