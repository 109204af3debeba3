"""Browse and search the library a page at a time, and add papers from files."""

import math
import tempfile
from pathlib import Path

import streamlit as st

import common
from rag.errors import PapersError
from rag.uploads import shown_name, stored_name
from render import error

PAGE_SIZE = 50
YEARS = {"min_value": 1000, "max_value": 2999, "value": None, "step": 1, "placeholder": "Any"}

st.title("Library")
library = common.library()
overview = library.papers(limit=0)


def turn_page(by: int) -> None:
    st.session_state.library_page += by
    st.session_state.pop("papers", None)  # a selection of rows belongs to its page


@st.fragment
def papers_table(files: list[str]) -> None:
    """One page of the papers the search and filters keep, asked of the library: typing or turning a
    page reruns only this part."""
    search, file_column, since, until = st.columns([3, 2, 1, 1])
    words = search.text_input("Search titles, authors and ids", placeholder="e.g. graph", type="search", live=True,
                              key="library_search")
    source = file_column.selectbox("File", files, index=None, placeholder="All files", key="library_file")
    year_from = since.number_input("From year", key="library_from", **YEARS)
    year_to = until.number_input("To year", key="library_to", **YEARS)
    wanted = (words, source, year_from, year_to)
    if st.session_state.get("library_wanted") != wanted:
        st.session_state.library_wanted, st.session_state.library_page = wanted, 0
        st.session_state.pop("papers", None)
    number = st.session_state.library_page
    try:
        page = library.papers(words, PAGE_SIZE, number * PAGE_SIZE, source or "", str(year_from or ""),
                              str(year_to or ""))
    except PapersError as exc:
        error(str(exc))
        return
    rows = [
        {"Title": p.title, "Date": p.date, "Authors": ", ".join(p.authors), "File": p.source_file, "Id": p.id}
        for p in page.items
    ]
    filled = [name for name in rows[0] if any(row[name] for row in rows)] if rows else None
    picked_rows = st.dataframe(rows, hide_index=True, width="stretch", column_order=filled, key="papers",
                               on_select="rerun", selection_mode="multi-row").selection.rows
    pages = max(1, math.ceil(page.total / PAGE_SIZE))
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button("Previous", icon=":material/chevron_left:", disabled=number == 0, on_click=turn_page, args=(-1,))
        if rows:
            st.caption(f"{number * PAGE_SIZE + 1:,}–{number * PAGE_SIZE + len(rows):,} of {page.total:,} papers · "
                       f"page {number + 1} of {pages:,} · select rows to remove papers")
        else:
            st.caption("No paper matches the search and filters.")
        st.button("Next", icon=":material/chevron_right:", disabled=number + 1 >= pages, on_click=turn_page, args=(1,))
    if picked_rows and st.button(f"Remove {len(picked_rows)} selected", icon=":material/delete:"):
        for row in picked_rows:
            library.remove(rows[row]["Id"])
        st.session_state.pop("papers", None)
        st.rerun()  # the counts, here and in the sidebar, change too


if not overview.total:
    common.empty_library_hint()
else:
    files = library.source_files()
    with st.container(horizontal=True):
        st.metric("Papers", f"{overview.total:,}")
        st.metric("Passages", f"{library.store.count():,}")
        st.metric("Files", len(files))
    if overview.embedded < overview.papers:
        st.caption(f"{overview.embedded:,} of {overview.papers:,} papers embedded: the others are found by title and "
                   "BM25 until their embedding is done (`papers embed` finishes an interrupted one)")
    papers_table(files)

st.subheader("Add papers", anchor=False)
uploads = st.file_uploader(
    "Papers files: a copied or saved Hugging Face Papers page, a saved arXiv listing or search page, arXiv "
    "JSON or JSONL, a BEIR corpus.jsonl(.gz), CSV, a BibTeX, RIS, CSL-JSON or PubMed (.nbib) export, a saved "
    "arXiv API reply (Atom XML), or papers' PDFs",
    accept_multiple_files=True,
)
keep_partial = st.checkbox(
    "Keep the good records", help="Add the valid records of a file even when most of its records are rejected."
)
if uploads and st.button("Add to the library", type="primary", icon=":material/upload:"):
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / stored_name(upload.name, number) for number, upload in enumerate(uploads)]
        for path, upload in zip(paths, uploads):
            path.write_bytes(upload.getvalue())
        names = [shown_name(upload.name, number) for number, upload in enumerate(uploads)]
        try:
            st.session_state.last_ingest = common.ingest_files(paths, keep_partial, names)
        except PapersError as exc:
            st.session_state.last_ingest = str(exc)
    st.rerun()  # the counts, here and in the sidebar, include the new papers

outcome = st.session_state.get("last_ingest")
if isinstance(outcome, str):
    error(f"Nothing was added. {outcome}")
elif outcome:
    st.success(outcome.summary())
    if len(outcome.files) > 1:
        st.dataframe(
            [{"File": f.file, "Format": f.format, "Added": f.added, "Merged": f.merged, "Updated": f.updated,
              "Unchanged": f.unchanged, "Skipped (no abstract)": f.no_abstract, "Rejected": f.rejected}
             for f in outcome.files],
            hide_index=True, width="stretch",
        )
    if outcome.rejected:
        st.caption("Rejected records")
        st.dataframe(
            [{"File": r.file, "Line": r.line, "Reason": r.reason} for r in outcome.rejected],
            hide_index=True, width="stretch",
        )
