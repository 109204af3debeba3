"""When a streamed answer ends, and which of its text is shown: named rules over the text so far.

A small model that runs on is re-typing an abstract. The rules, in the order they apply:
- `answer long enough`: past the answer's word limit, it ends at the next sentence end;
- `list line ran on`: a list line past its word limit is shown to its next sentence end, its rest
  hidden while the model writes it, and the next line shown in full;
- `hidden line ran on`: a line hidden for longer than a whole answer ends the answer;
- `list went round`: a list line about a paper an earlier line was about ends the list there.
"""

from __future__ import annotations

import re

from rag.text import word_count

SENTENCE_DONE = re.compile(r"[.!?](?:\s*\[\d+(?:\s*[,;–-]\s*\d+)*\])*\s*$|\n\s*$")
LIST_LINE_SOURCE = re.compile(r"^\s*[-*•][^\n\[]*\[(\d+)\]", re.M)
"""A list line's first citation, after its title: the paper the line is about."""


class Stopping:
    """Feed it the model's text piece by piece; it says what to show and when to stop.

    `max_line_words` is set for a list answer (one line per paper) and None otherwise."""

    def __init__(self, max_words: int, max_line_words: int | None = None) -> None:
        self.max_words = max_words
        self.max_line_words = max_line_words
        self.written = ""
        """The text shown so far, less a repeated list line."""
        self.rule = ""
        """The name of the rule that ended the answer; empty while it goes on."""
        self._hidden: str | None = None

    def take(self, piece: str) -> str | None:
        """The part of `piece` to show, or None when the whole piece is hidden."""
        if self._hidden is not None:
            if "\n" not in piece:
                self._hidden += piece
                if word_count(self._hidden) > self.max_words:
                    self.rule = "hidden line ran on"
                return None
            piece, self._hidden = piece[piece.index("\n"):], None
        if not piece:
            return piece
        self.written += piece
        if self.max_line_words and (again := repeated_line(self.written)):
            self.written = self.written[: -len(again)]
            self.rule = "list went round"
        elif SENTENCE_DONE.search(self.written):
            if word_count(self.written) > self.max_words:
                self.rule = "answer long enough"
            elif self.max_line_words and word_count(self.written.rsplit("\n", 1)[-1]) > self.max_line_words:
                self._hidden = ""
        return piece


def repeated_line(written: str) -> str:
    """The list's last line, if it is about a paper an earlier line was about: lines go in the
    sources' order, so the model is writing the list again (issue 8: a paper listed four times)."""
    earlier, _, line = written.rpartition("\n")
    this_paper = LIST_LINE_SOURCE.match(line)
    listed = {match.group(1) for match in LIST_LINE_SOURCE.finditer(earlier)}
    return line if this_paper and this_paper.group(1) in listed else ""
