"""papers: ask questions of a library of research-paper abstracts, with cited answers."""
