"""Library text on the page, safely: titles, abstracts, passages and answers are never trusted as
Markdown. `md` escapes them, so an abstract cannot inject links, images, HTML or Streamlit
directives into the page."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import streamlit as st

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# After parsing, whatever the escapes, Streamlit links URLs and e-mail addresses and turns
# :shortcodes: into emoji and icons. An invisible word joiner before the last character of each
# such pattern stops that, and only ever lands among the newest characters of a growing text.
_LINKED_AFTER_PARSING = re.compile(r"(?<=:/)(?=/)|(?<=www)(?=\.)|(?=@)|(?<=:)\w[\w/+-]*(?=:)", re.IGNORECASE)
WORD_JOINER = "\u2060"
_ESCAPED_CITATION = re.compile(r"\\\[(\d+)\\\]")
_ESCAPED_LIST_ITEM = re.compile(r"^\\- ", re.M)


def md(text: str) -> str:
    """`text` to show literally with st.markdown.

    CommonMark lets a backslash escape any ASCII punctuation mark, so escaping all of them
    leaves no syntax at all: no links, images, HTML, emphasis, math or directives.
    """
    joined = _LINKED_AFTER_PARSING.sub(lambda match: match.group(0) + WORD_JOINER, text)
    return _PUNCTUATION.sub(r"\\\1", joined)


def md_stream(chunks: Iterable[str]) -> Iterator[str]:
    """`md` of a text arriving in chunks, as chunks: escaping each chunk alone would miss a URL
    split between two. md(text) always extends md(text[:i]), so each step adds to the last."""
    text, shown = "", ""
    for chunk in chunks:
        text += chunk
        escaped = md(text)
        yield escaped[len(shown):]
        shown = escaped


def lines(text: str) -> str:
    """Escaped `text` whose lines opening with "- " stay list items (an answer's one line per paper,
    the list of removed statements)."""
    return _ESCAPED_LIST_ITEM.sub("- ", md(text))


def linked(text: str, anchors: dict[int, str]) -> str:
    """`lines` of `text` in which each cited [n] links to the anchor of its source card."""

    def link(match: re.Match[str]) -> str:
        anchor = anchors.get(int(match.group(1)))
        return f"[{match.group(0)}](#{anchor})" if anchor else match.group(0)

    return _ESCAPED_CITATION.sub(link, lines(text))


def error(message: str) -> None:
    """An error message, escaped: it may quote a title, a record or a path."""
    st.error(md(message), icon=":material/error:")
