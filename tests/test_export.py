"""Downloads: a conversation as Markdown with references, a comparison as Markdown and CSV."""

from __future__ import annotations

import csv
import io

from rag.compare import side_by_side
from rag.export import comparison_csv, comparison_markdown, conversation_markdown
from rag.paper import Paper
from rag.replies import Answer, Card, CardCell, Citation, Comparison, Source
from rag.wording import FELL_BACK, QUOTED_NOTE, STRONGER


def source(n: int, paper_id: str, title: str) -> Source:
    return Source(n=n, id=paper_id, title=title, excerpt=f"excerpt of {title}", similarity=0.5)


def answer(question: str, text: str, cited: list[tuple[int, str, str, str]]) -> Answer:
    """`cited`: (n, id, title, passage) for each citation; every cited paper is also a source."""
    sources = [source(n, paper_id, title) for n, paper_id, title, _ in cited]
    citations = [Citation(n=n, id=paper_id, title=title, passage=passage) for n, paper_id, title, passage in cited]
    return Answer(question=question, standalone_question=question, text=text, sources=sources, citations=citations)


def test_citations_are_renumbered_to_one_reference_list_for_the_conversation():
    first = answer("What is PORTAL?", "A game-playing agent framework [1].",
                   [(1, "p-portal", "Agents Play Thousands of 3D Video Games", "We present PORTAL.")])
    second = answer("And FGCNN?\nBriefly.", "FGCNN generates features [1], unlike PORTAL [2].",
                    [(1, "p-fgcnn", "Feature Generation by CNN", "FGCNN has two components."),
                     (2, "p-portal", "Agents Play Thousands of 3D Video Games", "Policies are deployable.")])

    text = conversation_markdown([first, second])

    assert "## 1. What is PORTAL?\n\nA game-playing agent framework [1]." in text
    assert "## 2. And FGCNN? Briefly.\n\nFGCNN generates features [2], unlike PORTAL [1]." in text
    references = text.split("## References", 1)[1]
    assert "[1] Agents Play Thousands of 3D Video Games (id: p-portal)" in references
    assert "[2] Feature Generation by CNN (id: p-fgcnn)" in references
    portal = references.split("[2]", 1)[0]
    assert "> We present PORTAL." in portal and "> Policies are deployable." in portal
    assert "> FGCNN has two components." in references.split("[2]", 1)[1]


def test_a_conversation_without_citations_has_no_references():
    refused = answer("What is the capital of France?", "The library does not answer this question.", [])
    text = conversation_markdown([refused])
    assert "The library does not answer this question." in text
    assert "References" not in text


def card(paper: Paper, tldr: str, problem: str, approach: str, quoted: bool = False) -> Card:
    cells = [CardCell(aspect="Problem", text=problem), CardCell(aspect="Approach", text=approach, quoted=quoted)]
    return Card(id=paper.id, title=paper.title, tldr=tldr, cells=cells)


def comparison(fell_back: bool = False, stronger: str = "") -> Comparison:
    a = Paper("p-a", "Pipes | and\nnewlines", "Pipes | are hard to model.\nWe propose a pipe model.")
    b = Paper("p-b", 'A "quoted", title', 'Quotes are "hard". We present a quote model.')
    cards = card(a, "A pipe model.", "Pipes | are hard to model.", "We propose a pipe model.", quoted=True), card(
        b, "A quote model.", 'Quotes are "hard".', "A quote model.")
    return side_by_side(a, b, *cards).model_copy(
        update={"in_common": "Both are papers.", "difference": "A vs B.", "fell_back": fell_back, "stronger": stronger})


def test_comparison_markdown_is_a_table_of_aspects_then_what_links_the_papers():
    text = comparison_markdown(comparison())
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0] == '| Aspect | A: Pipes \\| and newlines | B: A "quoted", title |'
    assert len(table) == 2 + 3
    assert "| TL;DR | A pipe model. | A quote model. |" in table
    assert '| Problem | Pipes \\| are hard to model. | Quotes are "hard". |' in table
    assert "| Approach | “We propose a pipe model.” | A quote model. |" in table  # the abstract's own words
    assert "- **A:** Pipes | and newlines (id: p-a)" in text
    assert "**In common:** Both are papers." in text and "**Key difference:** A vs B." in text
    assert QUOTED_NOTE in text and STRONGER not in text
    assert f"**{STRONGER}:** B." in comparison_markdown(comparison(stronger="B."))
    assert FELL_BACK not in text
    assert FELL_BACK in comparison_markdown(comparison(fell_back=True))


def test_comparison_csv_round_trips_through_a_csv_reader():
    rows = list(csv.reader(io.StringIO(comparison_csv(comparison(stronger="B.")))))
    assert rows[0] == ["aspect", "A: Pipes | and\nnewlines", 'B: A "quoted", title', "both"]
    assert rows[1] == ["id", "p-a", "p-b", ""]
    assert [row[0] for row in rows[2:5]] == ["TL;DR", "Problem", "Approach"]
    assert rows[3] == ["Problem", "Pipes | are hard to model.", 'Quotes are "hard".', ""]
    assert rows[4] == ["Approach", "“We propose a pipe model.”", "A quote model.", ""]
    assert rows[5:] == [["In common", "", "", "Both are papers."], ["Key difference", "", "", "A vs B."],
                        [STRONGER, "", "", "B."]]
