"""The registry: each `--format` name with its reader and what the user is told about it.

`read_papers` runs the reader registered under the given or detected name, and the messages that
list the formats are built from here. A new format (BibTeX, RIS, PDF...) is therefore one reader
module and one line below, plus a check in `detect.detect` if its content can tell it apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.readers.arxiv import read_arxiv_json, read_arxiv_jsonl
from rag.readers.arxiv_atom import read_arxiv_atom
from rag.readers.arxiv_html import read_arxiv_html
from rag.readers.arxiv_search import read_arxiv_search
from rag.readers.beir import read_beir
from rag.readers.bibtex import read_bibtex
from rag.readers.csl_json import read_csl_json
from rag.readers.csv_file import read_csv
from rag.readers.hf_html import read_hf_html
from rag.readers.hf_page import read_hf_page
from rag.readers.medline import read_medline
from rag.readers.pdf import read_pdf
from rag.readers.records import Item
from rag.readers.ris import read_ris

Reader = Callable[[str, Path], Iterator[Item]]
BytesReader = Callable[[bytes, Path], Iterator[Item]]


@dataclass(frozen=True)
class Format:
    read: Reader | None
    note: str = ""  # said after the name where the formats are listed, when the name alone is not enough
    read_bytes: BytesReader | None = None  # for a binary format (PDF): given the file's bytes, not text


REGISTRY: dict[str, Format] = {
    "hf_page": Format(read_hf_page, "a copied Hugging Face Papers page"),
    "arxiv_json": Format(read_arxiv_json),
    "arxiv_jsonl": Format(read_arxiv_jsonl),
    "beir": Format(read_beir, "corpus.jsonl, may be .gz"),
    "csv": Format(read_csv, "with title and abstract columns"),
    "bibtex": Format(read_bibtex, "a .bib export of Zotero, Mendeley, JabRef, Google Scholar"),
    "ris": Format(read_ris, "EndNote, Zotero, Mendeley, Scopus, Web of Science"),
    "csl_json": Format(read_csl_json, "CSL JSON from Zotero or Crossref"),
    "pubmed": Format(read_medline, "PubMed's .nbib, MEDLINE tags"),
    "arxiv_atom": Format(read_arxiv_atom, "a saved arXiv API reply, Atom XML"),
    "arxiv_html": Format(read_arxiv_html, "an arXiv listing page saved from the browser"),
    "arxiv_search": Format(read_arxiv_search, "an arXiv search results page saved from the browser"),
    "hf_html": Format(read_hf_html, "a Hugging Face Papers daily page saved from the browser"),
    "pdf": Format(None, "a paper's own PDF, title, authors and abstract from its first pages", read_pdf),
}
FORMATS = tuple(REGISTRY)
