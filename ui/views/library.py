"""Browse and search the library, and add papers from files."""

import tempfile
from pathlib import Path

import streamlit as st

import common
from rag.errors import PapersError
from rag.uploads import shown_name, stored_name
from render import error

st.title("Library")
library = common.library()
listed = common.papers()

if not listed:
    common.empty_library_hint()
else:
    files = sorted({paper.source_file for paper in listed if paper.source_file})
    years = sorted({paper.date[:4] for paper in listed if paper.date[:4].isdigit()})
    with st.container(horizontal=True):
        st.metric("Papers", len(listed))
        st.metric("Passages", library.store.count())
        st.metric("Files", len(files))
    figures = library.stats()
    if figures.embedded < figures.papers:
        st.caption(f"{figures.embedded} of {figures.papers} papers embedded: the others are found by title and "
                   "BM25 until their embedding is done (`papers embed` finishes an interrupted one)")
    search, file_filter = st.columns(2)
    words = search.text_input("Search titles", placeholder="e.g. graph").casefold()
    picked = file_filter.multiselect("Files", files, placeholder="All files")
    full_range = (years[0], years[-1]) if years else None
    year_range = st.select_slider("Year", options=years, value=full_range) if len(years) > 1 else full_range

    def shown(paper) -> bool:
        """Undated papers drop out once the year range is narrowed."""
        in_years = year_range == full_range or year_range[0] <= paper.date[:4] <= year_range[1]
        return words in paper.title.casefold() and (not picked or paper.source_file in picked) and in_years

    rows = [
        {"Title": p.title, "Date": p.date, "Authors": ", ".join(p.authors), "File": p.source_file, "Id": p.id}
        for p in listed if shown(p)
    ]
    st.caption(f"{len(rows)} of {len(listed)} papers; select rows to remove papers")
    filled = [name for name in rows[0] if any(row[name] for row in rows)] if rows else None
    picked_rows = st.dataframe(rows, hide_index=True, width="stretch", column_order=filled, key="papers",
                               on_select="rerun", selection_mode="multi-row").selection.rows
    if picked_rows and st.button(f"Remove {len(picked_rows)} selected", icon=":material/delete:"):
        for row in picked_rows:
            library.remove(rows[row]["Id"])
        st.rerun()

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
