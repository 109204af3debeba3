"""The prompt templates, shipped inside the `rag` package as `rag.templates` (PAPERS_PROMPTS_DIR)."""
