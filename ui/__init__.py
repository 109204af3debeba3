"""The Streamlit app, shipped inside the `rag` package as `rag.ui` (`papers ui` runs `app.py`)."""
