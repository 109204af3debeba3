"""Words shown to people, in one place: the CLI, the app, the service and MCP say the same things."""

from __future__ import annotations

from collections.abc import Iterable

from rag.replies import Answer, Source

NO_ANSWER = "The library does not answer this question."
FELL_BACK = "The model gave no comparison the abstracts support; the rows are each paper's card."
STRONGER = "Stronger"
QUOTED_NOTE = "A cell in quotation marks is the abstract's own words: what the model wrote there did not hold up against it."


def cell_text(text: str, quoted: bool) -> str:
    """A card's cell as a reader sees it: the abstract's own words in quotation marks."""
    return f"“{text}”" if quoted else text


FELL_BACK_IN_COMMON = "The model gave no answer that the abstracts support; compare the rows above."


def nothing_found(names: Iterable[str]) -> str:
    """The pre-model refusal of a question about names no source mentions."""
    return f"{NO_ANSWER} No paper found mentions {', '.join(names)}."


def removed_note(statements: list[str], against: str) -> str:
    """What the checks took out of text that was already shown, so it does not vanish unexplained;
    `against` is what it was checked against ("the sources", "the abstract"). Empty when nothing was."""
    if not statements:
        return ""
    return f"Removed, not supported by {against}:" + "".join(f"\n- {statement}" for statement in statements)


def removed_citations_note(numbers: list[int]) -> str:
    if not numbers:
        return ""
    return "Removed citations of sources the model was not given: " + ", ".join(f"[{n}]" for n in numbers)


def source_line(source: Source) -> str:
    return f"[{source.n}] {source.title} ({source.id})"


def sources_list(sources: list[Source], cited: set[int] = frozenset()) -> str:
    """The sources as lines; those cited, when any are given, marked with a star."""
    if not sources:
        return ""
    marks = (("*" if source.n in cited else " ") if cited else "" for source in sources)
    return "Sources:\n" + "\n".join(f" {mark}{source_line(source)}".rstrip() for mark, source in zip(marks, sources))


def after_stream(answer: Answer, streamed: str) -> str:
    """What follows an answer's streamed text: what the checks removed and the text that stands,
    when they changed it, then the cited sources. Chat front ends append it as it is."""
    parts = []
    if answer.text != streamed.strip():
        note = removed_note(answer.removed_statements, "the sources")
        parts.append((f"\n\n{note}" if note else "") + f"\n\nChecked answer: {answer.text}")
    cited = [source for source in answer.sources if source.n in {c.n for c in answer.citations}]
    if cited:
        parts.append("\n\n" + sources_list(cited))
    return "".join(parts)


def not_a_paper(paper_id: str, where: str) -> str:
    """An id that names no paper; `where` says how to see the ids ("`papers list`", "GET /v1/papers")."""
    return f"No paper with id '{paper_id}' in the library; {where} lists the papers and their ids."


EMPTY_LIBRARY = "The library is empty; add papers with `papers ingest FILE` first."
NOTHING_WITHIN_FILTERS = ("No papers match the filters (--source, --date-from, --date-to); a paper without a "
                          "date is outside any date range (`papers list --json` shows the dates).")


def no_papers_from(source: str, files: list[str]) -> str:
    """A file named to brief that no paper of the library was read from."""
    return f"No papers in the library were read from a file named '{source}'; its files: {', '.join(files)}."


NO_PAPER_NAMED = "No paper named; give a paper id or title (`papers list` shows them)."


def no_paper_called(name: str) -> str:
    return f"No paper with the id or title '{name}'; `papers list` shows the library."


def did_you_mean(name: str, suggestions: list[str], several: bool) -> str:
    """A name that matches several titles, or none exactly, with the titles it may mean."""
    listed = "\n".join(f"  - {title}" for title in suggestions)
    what = "Several papers match" if several else "No paper has exactly that title"
    return f"{what} '{name}'. Did you mean:\n{listed}"
