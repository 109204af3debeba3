"""One paper's digest beside its abstract, or a cited digest of a topic across the library."""

import streamlit as st

import common
from rag.digest import DigestStream

st.title("Digest")
library = common.require_papers()

paper_id = common.paper_picker("Paper", library, key="digest_paper")
if paper_id:
    stream = DigestStream(paper_id, settings=common.settings(), store=common.retriever().store)
    abstract_column, digest_column = st.columns(2, gap="large")
    with abstract_column:
        common.show_paper(stream.paper)
    with digest_column:
        st.subheader("Digest", anchor=False)
        if stream.cached:
            st.caption("Cached: written earlier for this paper with this model.")
        text = st.empty()
        if common.stream_text(stream, needs_model=not stream.cached, into=text) and stream.removed_statements:
            text.markdown(common.md(stream.text))
        common.removed_caption(stream.removed_statements, "the abstract")

st.divider()
st.subheader("Topic digest", anchor=False)
with st.form("topic"):
    topic = st.text_input("Topic", placeholder="e.g. graph neural networks for molecules")
    asked = st.form_submit_button("Write a topic digest", icon=":material/summarize:")
if asked and topic.strip():
    answer = common.ask_live(topic, prompt_name="topic")
    if answer:
        st.session_state.topic_digest = answer
        st.rerun()
elif answer := st.session_state.get("topic_digest"):
    st.caption(common.md(f"Topic: {answer.question}"))
    common.show_answer(answer, key="topic")
