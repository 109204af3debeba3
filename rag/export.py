"""Conversations, comparisons and briefings as files to keep: Markdown with references, and CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from rag.citations import CITATION, cited_numbers
from rag.replies import Answer, Briefing, Comparison
from rag.wording import FELL_BACK, QUOTED_NOTE, STRONGER, cell_text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def conversation_markdown(turns: Sequence[Answer]) -> str:
    """Each question and answer, then one References list for the whole conversation.

    Every answer numbers its own sources from [1], so citations are renumbered to the
    conversation's list: a paper cited in two answers is one reference with both passages.
    """
    numbers: dict[str, int] = {}
    titles: dict[str, str] = {}
    passages: dict[str, list[str]] = {}
    lines = ["# Conversation", ""]
    for index, answer in enumerate(turns, 1):
        renumber: dict[int, int] = {}
        for citation in answer.citations:
            renumber[citation.n] = numbers.setdefault(citation.id, len(numbers) + 1)
            titles[citation.id] = citation.title
            kept = passages.setdefault(citation.id, [])
            if citation.passage and citation.passage not in kept:
                kept.append(citation.passage)
        text = CITATION.sub(
            lambda m: "".join(f"[{renumber[n]}]" for n in cited_numbers(m.group(0)) if n in renumber),
            answer.text,
        )
        lines += [f"## {index}. {_one_line(answer.question)}", "", text.strip(), ""]
    if numbers:
        lines += ["## References", ""]
        for paper_id, number in numbers.items():
            lines += [f"[{number}] {_one_line(titles[paper_id])} (id: {paper_id})", ""]
            lines += [f"> {_one_line(passage)}\n" for passage in passages[paper_id]]
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    """A Markdown table cell: one line, and a | in the text does not split the cell."""
    return _one_line(text).replace("|", "\\|")


def comparison_markdown(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    lines = [
        "# Comparison",
        "",
        f"- **A:** {_one_line(a.title)} (id: {a.id})",
        f"- **B:** {_one_line(b.title)} (id: {b.id})",
        "",
        f"| Aspect | A: {_cell(a.title)} | B: {_cell(b.title)} |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {row.aspect} | {_cell(cell_text(row.a, row.quoted_a))} | {_cell(cell_text(row.b, row.quoted_b))} |"
              for row in comparison.rows]
    lines += [
        "",
        f"**In common:** {_one_line(comparison.in_common)}",
        "",
        f"**Key difference:** {_one_line(comparison.difference)}",
    ]
    if comparison.stronger:
        lines += ["", f"**{STRONGER}:** {_one_line(comparison.stronger)}"]
    if any(row.quoted_a or row.quoted_b for row in comparison.rows):
        lines += ["", f"_{QUOTED_NOTE}_"]
    if comparison.fell_back:
        lines += ["", f"_{FELL_BACK}_"]
    return "\n".join(lines) + "\n"


def comparison_csv(comparison: Comparison) -> str:
    """One row per aspect with a column per paper; what relates the two goes in the "both" column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["aspect", f"A: {comparison.a.title}", f"B: {comparison.b.title}", "both"])
    writer.writerow(["id", comparison.a.id, comparison.b.id, ""])
    for row in comparison.rows:
        writer.writerow([row.aspect, cell_text(row.a, row.quoted_a), cell_text(row.b, row.quoted_b), ""])
    writer.writerow(["In common", "", "", comparison.in_common])
    writer.writerow(["Key difference", "", "", comparison.difference])
    writer.writerow([STRONGER, "", "", comparison.stronger])
    return out.getvalue()


def briefing_markdown(briefing: Briefing) -> str:
    """A heading per topic, then one line per paper: its title, TL;DR and id to cite it by."""
    lines: list[str] = []
    for topic in briefing.topics:
        lines += [f"## {_one_line(topic.label)}", ""]
        lines += [f"- **{_one_line(p.title)}** — {_one_line(p.tldr)} [{p.id}]" for p in topic.papers]
        lines.append("")
    return "\n".join(lines)
