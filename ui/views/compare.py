"""Two papers side by side: their abstracts, then their sentences under the same aspects, and what links them."""

import pandas as pd
import streamlit as st

import common
from rag.compare import FELL_BACK, relate, side_by_side
from rag.errors import PapersError
from rag.export import comparison_csv, comparison_markdown

st.title("Compare")
library = common.require_papers()
store = common.retriever().store

columns = st.columns(2, gap="large")
chosen = []
for column, label, key in zip(columns, ("Paper A", "Paper B"), ("compare_a", "compare_b")):
    with column:
        chosen.append(common.paper_picker(label, library, key=key))
        if chosen[-1]:
            with st.container(height=320):  # scrolls, so the comparison stays close below
                common.show_paper(store.paper(chosen[-1]))
a, b = chosen

if a and b and a == b:
    st.warning("Pick two different papers.")
elif a and b and st.button("Compare", type="primary", icon=":material/compare_arrows:"):
    try:
        st.session_state.comparison = side_by_side(a, b, settings=common.settings(), store=store)
    except PapersError as exc:
        common.error(str(exc))

comparison = st.session_state.get("comparison")
if comparison and (comparison.a.id, comparison.b.id) == (a, b):
    rows = comparison.rows()
    table = pd.DataFrame(
        {
            f"A: {common.md(comparison.a.title)}": [common.md(row["a"]) for row in rows],
            f"B: {common.md(comparison.b.title)}": [common.md(row["b"]) for row in rows],
        },
        index=[row["aspect"] for row in rows],
    )
    st.table(table)  # the abstracts' own sentences: shown before the model is asked anything
    if comparison.relation is None:
        try:
            with st.status("Relating the two papers…") as status:
                relate(comparison, settings=common.settings(), model=common.load_model,
                       progress=lambda step: status.markdown(common.md(step)))
                status.update(label="Related", state="complete")
        except PapersError as exc:
            common.error(str(exc))
    if comparison.relation is not None:
        st.markdown(f"**In common:** {common.md(comparison.relation.in_common)}")
        st.markdown(f"**Key difference:** {common.md(comparison.relation.difference)}")
        if comparison.fell_back:
            st.caption(FELL_BACK)
        with st.container(horizontal=True):
            st.download_button(
                "Download Markdown", comparison_markdown(comparison), file_name="comparison.md",
                mime="text/markdown", icon=":material/download:", on_click="ignore",
            )
            st.download_button(
                "Download CSV", comparison_csv(comparison), file_name="comparison.csv",
                mime="text/csv", icon=":material/download:", on_click="ignore",
            )
