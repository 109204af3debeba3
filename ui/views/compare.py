"""Two papers side by side: their abstracts, then their cards under the same aspects, and what links them."""

import streamlit as st

import common
from rag.errors import PapersError
from rag.export import comparison_csv, comparison_markdown
from rag.wording import FELL_BACK, QUOTED_NOTE, STRONGER
from render import error, md

st.title("Compare")
common.require_papers()
library = common.library()

columns = st.columns(2, gap="large")
chosen = []
for column, label, key in zip(columns, ("Paper A", "Paper B"), ("compare_a", "compare_b")):
    with column:
        chosen.append(common.paper_picker(label, key=key))
        if chosen[-1]:
            with st.container(height=320):  # scrolls, so the comparison stays close below
                common.show_paper(library.paper(chosen[-1]))
a, b = chosen

if a and b and a == b:
    st.warning("Pick two different papers.")
elif a and b and st.button("Compare", type="primary", icon=":material/compare_arrows:"):
    st.session_state.compare_pair = (a, b)

if a and b and st.session_state.get("compare_pair") == (a, b):
    placeholders = dict(zip("AB", (column.empty() for column in st.columns(2, gap="large"))))
    try:
        with st.spinner("Writing the papers' cards…"):  # each column shows as soon as its card is written
            comparison = library.side_by_side(
                a, b, written=lambda name, card: common.show_card(card, placeholders[name], title=True, aligned=True),
                model=common.load_model)
        if any(row.quoted_a or row.quoted_b for row in comparison.rows):
            st.caption(QUOTED_NOTE)
        with st.status("Relating the two papers…") as status:
            comparison = library.relate(comparison, progress=lambda step: status.markdown(md(step)),
                                        model=common.load_model)
            status.update(label="Related", state="complete")
    except PapersError as exc:
        error(str(exc))
    else:
        st.markdown(f"**In common:** {md(comparison.in_common)}")
        st.markdown(f"**Key difference:** {md(comparison.difference)}")
        if comparison.stronger:
            st.markdown(f"**{STRONGER}:** {md(comparison.stronger)}")
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
