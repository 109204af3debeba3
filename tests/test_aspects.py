"""`sort_abstract` puts each sentence of an abstract under one aspect, keeping the abstract's order."""

from __future__ import annotations

from rag.aspects import NOT_STATED, sort_abstract
from rag.evidence import sentences

ABSTRACT = (
    "Training large models is increasingly expensive. "
    "Existing methods lack a way to share weights. "
    "We propose ShareNet, which ties the weights of sibling layers. "
    "ShareNet groups layers by their gradients. "
    "Experiments on ImageNet show that ShareNet cuts training cost by 40%. "
    "It also outperforms pruning at equal size. "
    "Extending ShareNet to language models remains an open question."
)


def test_each_sentence_goes_under_one_aspect_in_order():
    cells = sort_abstract(ABSTRACT)
    assert cells == {
        "problem": "Training large models is increasingly expensive. Existing methods lack a way to share weights.",
        "approach": "We propose ShareNet, which ties the weights of sibling layers. ShareNet groups layers by their gradients.",
        "results": "Experiments on ImageNet show that ShareNet cuts training cost by 40%. It also outperforms pruning at equal size.",
        "limitations": "Extending ShareNet to language models remains an open question.",
    }
    assert " ".join(cells.values()) == " ".join(sentences(ABSTRACT))


def test_an_abstract_that_opens_with_what_the_paper_does_states_no_problem():
    cells = sort_abstract(
        "We present Galactic, a simulator for mobile manipulation. "
        "A Fetch robot is tasked to rearrange objects in a home. "
        "Galactic achieves 421,000 steps per second, 54x faster than Habitat 2.0."
    )
    assert cells["problem"] == NOT_STATED
    assert cells["approach"].startswith("We present Galactic")
    assert cells["results"] == "Galactic achieves 421,000 steps per second, 54x faster than Habitat 2.0."


def test_a_results_word_in_the_opening_does_not_pull_the_abstract_into_results():
    """Where a sentence stands counts: an opening that mentions a result is still background."""
    cells = sort_abstract(
        "Model zoos have reached an unprecedented scope and achieve strong accuracy. "
        "How to assemble their models at runtime is an open problem. "
        "We present SN-Net, which stitches pretrained models. "
        "Experiments show that SN-Net matches individually trained networks."
    )
    assert cells["problem"].startswith("Model zoos have reached")
    assert cells["approach"] == "We present SN-Net, which stitches pretrained models."


def test_a_limitation_early_in_the_abstract_is_background_not_a_limitation():
    cells = sort_abstract(
        "Prior prototype networks have limitations such as lower accuracy. "
        "We propose a robust prototype network. "
        "It outperforms other prototype networks."
    )
    assert cells["limitations"] == NOT_STATED
    assert cells["problem"].startswith("Prior prototype networks")


def test_a_one_sentence_abstract_fills_one_cell():
    cells = sort_abstract("We propose a faster tokenizer.")
    assert cells["approach"] == "We propose a faster tokenizer."
    assert [cell for cell in cells.values() if cell != NOT_STATED] == ["We propose a faster tokenizer."]
