"""Inline [n] citations: parsing markers, dropping the ones that point at no given source, and
matching a citation to the passage of its source that the citing sentence draws on."""

from __future__ import annotations

import pytest

from rag.citations import CITATION, cited_numbers, clean_citations


@pytest.mark.parametrize(
    ("marker", "numbers"),
    [
        ("[7]", [7]),
        ("[2, 4]", [2, 4]),
        ("[2,4]", [2, 4]),
        ("[1-3]", [1, 2, 3]),
        ("[1–3]", [1, 2, 3]),  # en dash, as models often write ranges
        ("[1 - 3]", [1, 2, 3]),
        ("[1;2]", [1, 2]),
        ("[1; 2, 5-6]", [1, 2, 5, 6]),
    ],
)
def test_cited_numbers(marker: str, numbers: list[int]):
    assert cited_numbers(marker) == numbers


def test_citation_markers_are_found_in_text_but_not_other_brackets():
    text = "A [1]. B [2, 4] and C [1-3]; D [1;2]. Not a citation: [a], [], [x1]."
    markers = [m.group(0) for m in CITATION.finditer(text)]
    assert markers == ["[1]", "[2, 4]", "[1-3]", "[1;2]"]


def test_clean_citations_removes_numbers_of_sources_not_given_and_reports_them():
    text = "Galactic is fast [1]. It beats Habitat [7]. Both agree [2, 9]. Range [1-3]. Again [7]."
    cleaned, cited, removed = clean_citations(text, {1, 2})
    assert cleaned == "Galactic is fast [1]. It beats Habitat. Both agree [2]. Range [1][2]. Again."
    assert cited == [1, 2]  # in order of first use, each once
    assert removed == [7, 9, 3]  # each reported once, in order of appearance


def test_clean_citations_keeps_valid_text_unchanged():
    text = "FastTok runs 12x faster than BPE [2]. Galactic reaches 85% success [1]."
    cleaned, cited, removed = clean_citations(text, {1, 2, 3})
    assert (cleaned, cited, removed) == (text, [2, 1], [])


def test_clean_citations_with_no_sources_strips_every_marker():
    cleaned, cited, removed = clean_citations("An invented claim [1], and another [2].", set())
    assert cleaned == "An invented claim, and another."
    assert cited == [] and removed == [1, 2]


def test_repeated_number_in_one_marker_is_kept_once():
    cleaned, cited, _ = clean_citations("Claim [1, 1].", {1})
    assert cleaned == "Claim [1]." and cited == [1]


def test_source_tag_used_as_a_citation_becomes_one():
    text = 'The system presented in <source n="1"> uses LLMs </source>. It is fast <source n="9">.'
    cleaned, cited, removed = clean_citations(text, {1, 2})
    assert cleaned == "The system presented in [1] uses LLMs. It is fast."
    assert (cited, removed) == ([1], [9])


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("The system described in Source 1 uses LLMs.", "The system described in [1] uses LLMs."),
        ("Both appear in sources 1 and 2.", "Both appear in [1][2]."),
        ("From source [2], we see it.", "From [2], we see it."),
        ("It runs 12x faster. [1]", "It runs 12x faster [1]."),
        ("It runs 12x faster [1]. [1] It is new [2].", "It runs 12x faster [1]. It is new [2]."),
        ("They are [1] and [2]. [1] presents X. [2] proposes Y.", "They are [1] and [2]. [1] presents X. [2] proposes Y."),
        ("An open source 3D tool runs a source 2,000 times.", "An open source 3D tool runs a source 2,000 times."),
    ],
)
def test_written_out_and_misplaced_citations_are_normalised(text, cleaned):
    assert clean_citations(text, {1, 2})[0] == cleaned
