"""What every page shares: the one Library, the model's first load, pickers, the sidebar."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rag.errors import NotFound, PapersError
from rag.library import Library
from rag.replies import Card, IngestReport, PaperDetail
from rag.settings import Settings
from rag.wording import cell_text
from render import error, md, md_stream

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

# Not in `pages/`: Streamlit runs a folder of that name as an old-style multipage app until
# st.navigation is first called, so the first visit to /digest after a start would skip app.py.
PAGES = {
    "chat": "views/chat.py",
    "digest": "views/digest.py",
    "compare": "views/compare.py",
    "briefing": "views/briefing.py",
    "library": "views/library.py",
}
PICKER_MATCHES = 20
"""Papers a picker offers for the words typed."""
MODEL_STAGES = {
    "join": "Joining the bundled model's parts",
    "verify": "Checking the model file",
    "load": "Loading the model into memory",
}


@st.cache_resource
def library() -> Library:
    """The process's one Library, shared by every session; settings are read once, from PAPERS_*
    variables and .env, as the CLI reads them."""
    return Library(Settings())


def paper_count() -> int:
    return library().papers(limit=0).total


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

        model = library().model(progress)
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


def ingest_files(paths: Sequence[Path], keep_partial: bool = False, names: Sequence[str] | None = None) -> IngestReport:
    """Ingest with a progress bar. A file whose records are mostly rejected is refused unless `keep_partial`."""
    with st.status("Adding papers…", expanded=True) as status:
        bar = st.progress(0.0, text="Reading the files")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"Embedding papers: {done} of {total}")

        report = library().ingest(list(paths), progress=progress, keep_partial=keep_partial, names=names)
        status.update(label=f"Done: {report.summary()}", expanded=False)
    return report


# --- papers: pickers, abstracts, and opening a paper on another page -------------------------------


def open_paper(page: str, picker_key: str, paper_id: str) -> NoReturn:
    """Switch to `page` with `paper_id` chosen in its picker `picker_key`."""
    st.session_state[f"open:{picker_key}"] = paper_id
    st.switch_page(PAGES[page])


def paper_picker(label: str, key: str) -> str | None:
    """The id of the paper chosen in a search box whose first matches fill a selectbox as one types;
    a paper sent by `open_paper` comes chosen."""
    if wanted := st.session_state.pop(f"open:{key}", None):
        st.session_state[key] = wanted
    st.session_state[f"{key}:page"] = st.session_state.get(key)
    matching_papers(label, key)
    return st.session_state.get(key)


@st.fragment
def matching_papers(label: str, key: str) -> None:
    """Typing reruns only this part, asking the library for the first matches; choosing one reruns
    the page, which shows the paper."""
    words = st.text_input(f"{label}: search by title, author or id", key=f"{key}:search", type="search",
                          live=True, placeholder="Type a few words of the title")
    found = library().papers(words, limit=PICKER_MATCHES)
    titles = {paper.id: paper.title for paper in found.items}
    chosen = st.session_state.get(key)
    if chosen and chosen not in titles:
        try:
            titles = {chosen: library().paper(chosen).title, **titles}
        except NotFound:  # removed from the library since it was chosen
            st.session_state.pop(key)
    st.selectbox(label, list(titles), index=None, format_func=titles.__getitem__, key=key,
                 placeholder=f"Pick one of {found.total:,} matching papers" if found.total else "No paper matches")
    if found.total > len(found.items):
        st.caption(f"The first {len(found.items)} of {found.total:,} matches; type more words to narrow them.")
    if st.session_state.get(key) != st.session_state.get(f"{key}:page"):
        st.rerun()


def show_paper(paper: PaperDetail) -> None:
    st.subheader(md(paper.title), anchor=False)
    details = [", ".join(paper.authors), paper.date, paper.source_file, f"id {paper.id}"]
    st.caption(md(" · ".join(d for d in details if d)))
    st.markdown(md(paper.abstract))


def show_card(card: Card, into: DeltaGenerator | None = None, title: bool = False, aligned: bool = False) -> None:
    """A paper's card: the TL;DR, then its aspects; the abstract's own words in quotation marks. Beside
    another card (`aligned`) every aspect shows, so that the two columns line up."""
    lines = [f"**{md(card.title)}**"] if title else []
    lines.append(f"**TL;DR:** {md(cell_text(card.tldr, card.tldr_quoted))}")
    cells = card.cells if aligned else card.cells_beyond_tldr
    lines += [f"- **{cell.aspect}:** {md(cell_text(cell.text, cell.quoted))}" for cell in cells]
    (into or st).markdown("\n".join(lines))


# --- every page: the sidebar and the empty library ------------------------------------------------------


def sidebar() -> None:
    current = library()
    label = "Chroma server" if current.settings.chroma_host else "Library folder"
    with st.sidebar:
        st.markdown(f"**Model**  \n{md(current.describe_model())}")
        st.markdown(f"**Library**  \n{paper_count():,} papers · up to {current.settings.top_k} sources per answer")
        st.markdown(f"**{label}**  \n{md(current.location.removeprefix('Chroma server '))}")


def empty_library_hint() -> None:
    """How to fill an empty library, with a button that adds the bundled sample."""
    sample = library().settings.sample_library
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


def require_papers() -> None:
    """With no papers in the library, the hint to add some, and the page stops there."""
    if not paper_count():
        empty_library_hint()
        st.stop()
