"""One paper's card (its digest, TL;DR and aspects) beside its abstract, or a cited digest of a topic
across the library."""

import streamlit as st

import common
from answers import ask_live, removed_caption, show_answer
from rag.errors import PapersError
from rag.wording import QUOTED_NOTE
from render import error, md

st.title("Digest")
common.require_papers()

paper_id = common.paper_picker("Paper", key="digest_paper")
if paper_id:
    stream = common.library().digest_stream(paper_id)
    abstract_column, digest_column = st.columns(2, gap="large")
    with abstract_column:
        common.show_paper(common.library().paper(paper_id))
    with digest_column:
        st.subheader("Digest", anchor=False)
        if stream.cached:
            st.caption("Cached: written earlier for this paper with this model.")
        text = st.empty()
        if common.stream_text(stream, needs_model=not stream.cached, into=text):
            if stream.digest.removed_statements:
                text.markdown(md(stream.digest.digest))
            removed_caption(stream.digest.removed_statements, "the abstract")
            st.subheader("Card", anchor=False)
            try:
                with st.spinner("Writing the paper's card…"):
                    card = common.library().card(paper_id)
                common.show_card(card)
                if any(cell.quoted for cell in card.cells) or card.tldr_quoted:
                    st.caption(QUOTED_NOTE)
            except PapersError as exc:
                error(str(exc))

st.divider()
st.subheader("Topic digest", anchor=False)
with st.form("topic"):
    topic = st.text_input("Topic", placeholder="e.g. graph neural networks for molecules")
    asked = st.form_submit_button("Write a topic digest", icon=":material/summarize:")
if asked and topic.strip():
    answer = ask_live(topic, prompt_name="topic")
    if answer:
        st.session_state.topic_digest = answer
        st.rerun()
elif answer := st.session_state.get("topic_digest"):
    st.caption(md(f"Topic: {answer.question}"))
    show_answer(answer, key="topic")
