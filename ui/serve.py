"""`papers ui` starts Streamlit through this module, so that what every page needs is imported while
the server starts rather than during its first visitor's first view: Streamlit imports a page's
modules when it first runs the page, and pandas (which `st.dataframe` needs) with the library's own
modules take over a second on 2 cores."""

import sys

import pandas  # noqa: F401
from streamlit.web.cli import main

import rag.library  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
