"""The Streamlit app over the `rag` pipeline (`papers ui` starts it): chat, digest, compare, briefing, library."""

import streamlit as st

import common
from rag.errors import PapersError
from render import error

st.set_page_config(page_title="Papers", page_icon=":material/library_books:", layout="wide")
page = st.navigation(
    [
        st.Page(common.PAGES["chat"], title="Chat", icon=":material/chat:", default=True),
        st.Page(common.PAGES["digest"], title="Digest", icon=":material/summarize:"),
        st.Page(common.PAGES["compare"], title="Compare", icon=":material/compare_arrows:"),
        st.Page(common.PAGES["briefing"], title="Briefing", icon=":material/bubble_chart:"),
        st.Page(common.PAGES["library"], title="Library", icon=":material/local_library:"),
    ]
)
try:
    common.sidebar()  # the first to open the library: a folder or server that cannot be opened stops here
except PapersError as exc:
    error(str(exc))
    st.stop()
page.run()
