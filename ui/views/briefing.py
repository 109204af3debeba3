"""A listing at a glance: its papers in labelled topics on a map (click a paper for its card), then a line each."""

import altair as alt
import pandas as pd
import streamlit as st

import common
from rag.errors import PapersError
from rag.export import briefing_markdown
from render import error, md

st.title("Briefing")
common.require_papers()
library = common.library()

source = st.selectbox("Papers", [None, *library.source_files()], format_func=lambda name: name or "The whole library",
                      key="brief_source")
if st.button("Brief", type="primary", icon=":material/bubble_chart:"):
    try:
        with st.status("Briefing…", expanded=True) as status:
            bar = st.progress(0.0, text="Reading the papers' cards")

            def progress(done: int, total: int) -> None:
                bar.progress(done / total, text=f"Cards, then topic labels: {done} of {total}")

            st.session_state.briefing = (source, library.brief(source, progress))
            status.update(label="Briefed", state="complete", expanded=False)
    except PapersError as exc:
        error(str(exc))

briefed, briefing = st.session_state.get("briefing", (None, None))
if briefing and briefed == source:
    rows = pd.DataFrame([{"id": p.id, "title": p.title, "tldr": p.tldr, "topic": topic.label, "x": p.x, "y": p.y}
                         for topic in briefing.topics for p in topic.papers])
    clicked = alt.selection_point(name="paper", fields=["id"])
    chart = alt.Chart(rows).mark_circle(size=90).encode(
        x=alt.X("x", axis=None), y=alt.Y("y", axis=None),
        color=alt.Color("topic:N", sort=[topic.label for topic in briefing.topics], title="Topic"),
        opacity=alt.condition(clicked, alt.value(0.9), alt.value(0.35)),
        tooltip=[alt.Tooltip("title", title="Title"), alt.Tooltip("tldr", title="TL;DR")],
    ).add_params(clicked)
    event = st.altair_chart(chart, on_select="rerun", key="brief_map")
    if picked := event["selection"].get("paper"):
        try:
            with st.spinner("Writing the paper's card (first time only)…"):
                card = library.card(picked[0]["id"])
        except PapersError as exc:
            error(str(exc))
        else:
            with st.container(border=True):
                common.show_card(card, title=True)
                st.markdown(md(card.digest))
    st.download_button("Download Markdown", briefing_markdown(briefing), file_name="briefing.md",
                       mime="text/markdown", icon=":material/download:", on_click="ignore")
    for topic in briefing.topics:
        st.subheader(md(topic.label), anchor=False)
        st.markdown("\n".join(f"- **{md(p.title)}**: {md(p.tldr)}" for p in topic.papers))
