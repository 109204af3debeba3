"""Which questions ask for every paper that fits, and how many papers such a question is given."""

import pytest

from rag.evidence import relevant
from rag.intent import asks_for_several, question_parts
from rag.replies import SearchHit
from rag.settings import Settings


@pytest.mark.parametrize(
    "question",
    [
        "Which papers use hypernetworks?",
        "Are there papers on pruning?",
        "papers with experiments on cifar-10",
        "Which methods in the library use neural architecture search?",
        "show me everything about Kolmogorov-Arnold networks",
        "What work do you have on graph neural networks?",
        "Which of these were evaluated on ImageNet?",
        "Find me work on spatio-temporal graph learning",
        "Name every paper that deals with hypernetworks.",
    ],
)
def test_a_question_for_every_paper_that_fits_asks_for_several(question):
    assert asks_for_several(question)


@pytest.mark.parametrize(
    "question",
    [
        "Which paper reaches 85% success on rearrangement?",
        "Which method reaches 82% success on ImageNav?",
        "Which paper studies Hopfield networks?",
        "Among the Kolmogorov-Arnold network papers, which one uses attention?",
        "Which of the papers reports the highest throughput?",
        "In which paper do the authors translate C. elegans circuits?",
        "What speedups over the original frameworks are reported?",
        "How does Eigen-CAM build its class activation maps?",
    ],
)
def test_a_question_about_one_paper_or_fact_does_not(question):
    assert not asks_for_several(question)


def hits(*similarities: float) -> list[SearchHit]:
    return [SearchHit(id=f"p{rank}", title=f"Paper {rank}", score=1.0 / (rank + 1), passages=[], similarity=s)
            for rank, s in enumerate(similarities)]


def test_a_list_question_keeps_the_best_ranked_papers_that_trail_past_the_margin(tmp_path):
    settings = Settings(data_dir=tmp_path, source_margin=0.1, min_similarity=0.2, list_min_papers=2)
    ranked = hits(0.6, 0.4, 0.35, 0.58)
    assert [hit.id for hit in relevant(ranked, settings)] == ["p0", "p3"]
    assert [hit.id for hit in relevant(ranked, settings, several=True)] == ["p0", "p1", "p3"]


def test_a_list_question_keeps_no_paper_below_the_similarity_floor(tmp_path):
    settings = Settings(data_dir=tmp_path, min_similarity=0.2, list_min_papers=2)
    assert [hit.id for hit in relevant(hits(0.3, 0.1), settings, several=True)] == ["p0"]


@pytest.mark.parametrize(("question", "several"), [
    # issue 20: asked for one number about one work, answered with two list lines and a refusal
    ("How many social-media comments and crowdworkers were used in the work that scores comments on a "
     "continuous scale?", False),
    ("In the work on influential neuron paths in vision transformers, what measure is proposed?", False),
    ("How many papers study Kolmogorov-Arnold networks?", True),
    ("list the work on embodied agents: robots or simulated bodies that navigate", True),
])
def test_a_question_for_a_number_or_about_one_work_is_not_a_list(question, several):
    assert asks_for_several(question) is several


@pytest.mark.parametrize(("question", "parts"), [
    # issue 20: the answers named the paper and left the second part (the gains, the bit-width) unanswered
    ("Which add-on to existing pruning methods lowers the 'dynamic dead neuron rate' of pruned networks, and what "
     "gains does it report on CIFAR and on ImageNet?",
     ["Which add-on to existing pruning methods lowers the 'dynamic dead neuron rate' of pruned networks",
      "what gains does it report on CIFAR and on ImageNet"]),
    ("how many sub-models can SortedNet train at once and how much performance is kept?",
     ["how many sub-models can SortedNet train at once", "how much performance is kept"]),
    ("Which paper compares CNNs and vision transformers on ImageNet?",
     ["Which paper compares CNNs and vision transformers on ImageNet?"]),
    ("What are the strengths and weaknesses of KANs?", ["What are the strengths and weaknesses of KANs?"]),
])
def test_a_question_asking_two_things_has_two_parts(question, parts):
    assert question_parts(question) == parts
