"""Ask the library; a follow-up is read in the light of the conversation so far."""

import streamlit as st

import common
from answers import ask_live, show_answer
from rag.export import conversation_markdown
from render import md

st.title("Chat")
common.require_papers()
chat = st.session_state.setdefault("chat", [])

with st.container(horizontal=True):
    if st.button("New chat", icon=":material/add_comment:", disabled=not chat):
        chat.clear()
        st.rerun()
    st.download_button(
        "Download as Markdown", conversation_markdown(chat), file_name="conversation.md",
        mime="text/markdown", icon=":material/download:", on_click="ignore", disabled=not chat,
    )

for index, answer in enumerate(chat):
    with st.chat_message("user"):
        st.markdown(md(answer.question))
    with st.chat_message("assistant"):
        show_answer(answer, key=f"turn{index}")

if question := st.chat_input("Ask a question about the papers"):
    history = [turn for answer in chat for turn in (("user", answer.question), ("assistant", answer.text))]
    with st.chat_message("user"):
        st.markdown(md(question))
    with st.chat_message("assistant"):
        answer = ask_live(question, history)
    if answer:
        chat.append(answer)
        st.rerun()
