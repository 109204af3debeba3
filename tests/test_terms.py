"""Key terms of an abstract (`rag.terms`), on abstracts of the sample library: what a card's terms row
shows. Precision and recall on labelled abstracts are benchmarks/terms.py's."""

from __future__ import annotations

import pytest

from conftest import sample_papers
from rag.cards import MAX_CELL_WORDS, terms_cell
from rag.terms import MAX_TERMS, key_terms


def abstract_of(title_start: str) -> str:
    return next(p.abstract for p in sample_papers() if p.title.startswith(title_start))


@pytest.mark.parametrize("title, wanted", [
    ("Parallel Learning by Multitasking", ["Multitasking Hebbian Network", "hierarchical regime", "parallel regime"]),
    ("Dense Hebbian", ["ultra-storage regime", "Plefka approximation", "Fashion MNist"]),
    ("A Robust Prototype-Based", ["Classification-by-Components (CBC)", "robustness guarantees"]),  # written 3 times
    ("Stitchable Neural Networks", ["SN-Net", "ImageNet", "Timm model zoo"]),
])
def test_the_abstracts_own_names_and_coined_terms_are_found(title, wanted):
    terms = key_terms(abstract_of(title))
    assert all(term in terms for term in wanted), terms
    assert len(terms) <= MAX_TERMS and all(term in abstract_of(title) for term in terms)


def test_general_kinds_of_model_question_words_and_latex_are_no_terms():
    terms = key_terms(abstract_of("MgNO")) + key_terms(abstract_of("A Benchmark Study on Calibration")) + key_terms(
        abstract_of("CACTUS"))
    assert not {"O_i", "W_", "How", "What", "Which", "CNNs", "Deep Learning", "ML", "DL"} & set(terms)
    assert not [term for term in key_terms(abstract_of("Deep Learning for Case-Based")) if "every" in term or "least" in term]
    assert not [term for term in terms if "_" in term or term.lower().startswith("convolutional neural network")]


def test_an_abstract_naming_nothing_gets_an_empty_terms_row_and_a_long_list_is_cut_whole():
    assert key_terms("We forecast rainfall for the next hour with a graph network over 400 weather stations.") == []
    cell = terms_cell(abstract_of("MobileDets"))
    assert cell.aspect == "Key terms" and len(cell.text.split()) <= MAX_CELL_WORDS
    assert all(term in abstract_of("MobileDets") for term in cell.text.split("; "))
