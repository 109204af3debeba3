"""`ground` holds an answer to its sources sentence by sentence: numbers are the checkable part of a
claim, citations follow the facts, and a sentence without a citation gets the source it draws on."""

from __future__ import annotations

import re

import pytest

from rag.grounding import citing_sentences, ground, supported, supporting_passage, unsupported_sentences
from rag.quantities import numbers

SOURCES = {
    1: "Galactic: Scaling End-to-End Reinforcement Learning for Rearrangement\n"
    "Galactic simulates a Fetch mobile manipulator 54x faster than Habitat 2.0 "
    "and reaches 85% rearrangement success.",
    2: "FastTok: Rethinking Tokenization\n"
    "FastTok is a tokenizer that runs 12x faster than BPE on English text.",
    3: "Grape detection, segmentation and tracking\n"
    "We detect grapes in 85 vineyard images using deep networks.",
}


def test_supported_sentence_is_kept_as_written():
    answer = "Galactic simulates a Fetch mobile manipulator 54x faster than Habitat 2.0 [1]."
    grounded = ground(answer, "How fast is Galactic?", SOURCES)
    assert grounded.text == answer
    assert grounded.removed_statements == []


@pytest.mark.parametrize(
    ("made_up", "question"),
    [
        ("Galactic simulates a Fetch mobile manipulator 99x faster than Habitat 2.0 [1].", "How fast are they?"),
        ("FastTok was written by Subhajit Maity et al. at DeepMind [2].", "Who wrote FastTok?"),
    ],
)
def test_sentence_with_an_invented_number_or_name_is_dropped_and_reported(made_up, question):
    supported = "FastTok is a tokenizer that runs 12x faster than BPE [2]."
    grounded = ground(f"{supported} {made_up}", question, SOURCES)
    assert grounded.text == supported
    assert grounded.removed_statements == [re.sub(r" \[\d\]", "", made_up)]


def test_number_found_only_in_an_unrelated_source_is_not_support():
    # 85 appears in sources 1 and 3, but neither is about tokenizers or English text.
    answer = "FastTok reaches 85% accuracy on English text [2]."
    grounded = ground(answer, "How accurate is FastTok?", SOURCES)
    assert grounded.text == ""
    assert grounded.removed_statements == ["FastTok reaches 85% accuracy on English text."]


def test_wrong_citation_moves_to_the_source_holding_the_numbers():
    answer = "Galactic simulates a Fetch mobile manipulator 54x faster than Habitat 2.0 [2]."
    grounded = ground(answer, "How fast is Galactic?", SOURCES)
    assert grounded.text == "Galactic simulates a Fetch mobile manipulator 54x faster than Habitat 2.0 [1]."
    assert grounded.removed_statements == []


def test_citation_in_mid_sentence_is_replaced_by_one_at_its_end():
    answer = "Galactic [3] reaches 85% rearrangement success!"
    grounded = ground(answer, "What success does Galactic reach?", SOURCES)
    assert grounded.text == "Galactic reaches 85% rearrangement success [1]!"


def test_removed_statement_is_reported_without_its_citations_or_their_gaps():
    grounded = ground("Galactic [1] simulates Habitat 7x faster [2] .", "How fast is Galactic?", SOURCES)
    assert grounded.text == ""
    assert grounded.removed_statements == ["Galactic simulates Habitat 7x faster."]


def test_uncited_sentence_gets_the_source_it_draws_its_words_from():
    grounded = ground("FastTok is a tokenizer for English text.", "What is FastTok?", SOURCES)
    assert grounded.text == "FastTok is a tokenizer for English text [2]."


def test_uncited_sentence_sharing_too_few_words_stays_uncited():
    grounded = ground("This is an interesting question.", "What is FastTok?", SOURCES)
    assert grounded.text == "This is an interesting question."
    assert grounded.removed_statements == []


def test_weak_co_citations_are_dropped():
    for answer in (
        "The FastTok tokenizer runs faster than BPE on English text [1][2].",
        "The FastTok tokenizer runs faster than BPE on English text [1, 2].",
        "The FastTok tokenizer runs faster than BPE on English text [2][3].",
    ):
        grounded = ground(answer, "Which tokenizer is fast?", SOURCES)
        assert grounded.text == "The FastTok tokenizer runs faster than BPE on English text [2].", answer


def test_co_citations_of_a_sentence_about_several_papers_are_kept():
    answer = "The papers that run faster than BPE on English text are [1] and [2]."
    assert ground(answer, "Which papers are fast?", SOURCES).text == answer


def test_co_citations_that_both_match_are_kept():
    answer = "Galactic simulates rearrangement and FastTok is a tokenizer for English text [1][2]."
    assert ground(answer, "What do they do?", SOURCES).text == answer


def test_numbers_from_the_question_are_not_claims():
    answer = "Galactic is not 100x faster than Habitat [1]."
    asked = ground(answer, "Is Galactic 100x faster than Habitat?", SOURCES)
    assert asked.text == answer and asked.removed_statements == []
    not_asked = ground(answer, "Is Galactic faster than Habitat?", SOURCES)
    assert not_asked.text == "" and not_asked.removed_statements == ["Galactic is not 100x faster than Habitat."]


def test_citation_numbers_are_not_claims():
    assert numbers("Galactic reaches 85% success [1][2, 3] in 1,000 runs of version 2.0.") == {"85", "1000", "2.0"}


def test_every_sentence_is_judged_on_its_own():
    answer = (
        "FastTok runs 12x faster than BPE on English text [2].\n"
        "Grapes were detected in 40 vineyard images [3]. "
        "We detect grapes in vineyard images using deep networks."
    )
    grounded = ground(answer, "What do the papers do?", SOURCES)
    assert grounded.text == (
        "FastTok runs 12x faster than BPE on English text [2]. "
        "We detect grapes in vineyard images using deep networks [3]."
    )
    assert grounded.removed_statements == ["Grapes were detected in 40 vineyard images."]


EXCERPT = (
    "We study simulators. Galactic simulates a Fetch robot 54x faster than Habitat 2.0."
    " … Training reaches 85% rearrangement success. The code is public."
)


def test_supporting_passage_is_the_sentence_each_claim_rests_on():
    claim = "Galactic's simulator of a Fetch robot is 54x faster [1]."
    assert supporting_passage([claim], EXCERPT) == "Galactic simulates a Fetch robot 54x faster than Habitat 2.0."


def test_supporting_passage_of_two_claims_marks_the_gap_between_their_sentences():
    claims = ["Galactic simulates a Fetch robot quickly [1].", "Training reaches 85% rearrangement success [1]."]
    assert supporting_passage(claims, EXCERPT) == (
        "Galactic simulates a Fetch robot 54x faster than Habitat 2.0. … Training reaches 85% rearrangement success."
    )
    adjacent = ["Training reaches 85% rearrangement success [1].", "The code is public [1]."]
    assert supporting_passage(adjacent, EXCERPT) == "Training reaches 85% rearrangement success. The code is public."


def test_supporting_passage_falls_back_to_the_first_sentence():
    assert supporting_passage(["nothing in common"], EXCERPT) == "We study simulators."
    assert supporting_passage(["anything"], "") == ""


def test_citing_sentences_keep_et_al_inside_their_sentence():
    text = "First claim by Smith et al. [1] holds. Second claim [2]. Third uses both [1][2]."
    assert citing_sentences(text, 1) == ["First claim by Smith et al. [1] holds.", "Third uses both [1][2]."]
    assert citing_sentences(text, 3) == []


def test_names_written_by_habit_or_as_acronyms_of_source_words_are_not_made_up():
    answer = "In this Paper, FastTok runs faster than BPE on English text, like an ET tokenizer [2]."
    assert ground(answer, "Is FastTok fast?", SOURCES).text == answer


def test_a_name_from_the_question_that_no_source_mentions_is_not_support():
    answer = "FastTok uses AlphaFold to tokenize English text [2]."
    grounded = ground(answer, "Which papers use AlphaFold?", SOURCES)
    assert grounded.text == "" and grounded.removed_statements == ["FastTok uses AlphaFold to tokenize English text."]


def test_unsupported_sentences_of_a_text_written_from_one_source():
    digest = "FastTok runs 12x faster than BPE. It was trained on 40 GPUs. Zorblax Labs built it."
    assert unsupported_sentences(digest, SOURCES[2]) == ["It was trained on 40 GPUs.", "Zorblax Labs built it."]


def test_a_name_from_the_rest_of_a_cited_abstract_is_found():
    answer = "FastTok is a tokenizer trained on the Pile [2]."
    assert ground(answer, "What is FastTok?", SOURCES).removed_statements == [answer.replace(" [2]", "")]
    grounded = ground(answer, "What is FastTok?", SOURCES, "FastTok: Rethinking Tokenization\nWe train on the Pile.")
    assert grounded.text == answer


@pytest.mark.parametrize(
    ("compound", "kept"),
    [("a Habitat-style simulator", True), ("a GPT-based planner", False)],
)
def test_a_descriptive_compound_is_found_where_its_head_is(compound, kept):
    sentence = f"Galactic is {compound} for rearrangement [1]."
    grounded = ground(sentence, "What is Galactic?", SOURCES)
    assert (grounded.text == sentence) is kept


@pytest.mark.parametrize(
    ("sentence", "kept"),
    [
        ("Karpov et al. show that Galactic simulates a Fetch mobile manipulator 54x faster than Habitat 2.0 [1].", False),
        ("Zhang and colleagues show that Galactic simulates a Fetch mobile manipulator 54x faster than Habitat 2.0 [1].", False),
        ("Notably, Galactic simulates a Fetch mobile manipulator 54x faster than Habitat 2.0 [1].", True),
        ("Digest [1].", True),
        ("Simulating a Fetch mobile manipulator, Galactic is 54x faster than Habitat 2.0 [1].", True),
    ],
)
def test_the_first_word_is_looked_up_when_written_as_an_author(sentence, kept):
    assert supported(sentence, SOURCES[1]) is kept


def test_a_compound_with_any_lowercase_tail_is_found_where_its_head_is():
    assert supported("FastTok is a BPE-inspired, BPE-derived tokenizer for English text [2].", SOURCES[2])


def test_a_name_glued_to_a_number_in_the_source_is_found():
    source = "Galactic\nA Fetch robot with a 7DoF arm is simulated."
    assert supported("Galactic simulates a Fetch robot with a 7-DoF arm [1].", source)


@pytest.mark.parametrize(
    ("claim", "source", "kept"),
    [
        ("TicketTalk responses make sense 86.5 per cent of the time [1].", "TicketTalk responses make sense 86.5% of the time.", True),
        ("SNNKs cut trainable parameters by five times [1].", "SNNKs cut trainable parameters by 5x.", True),
        ("Quantization cuts memory by a factor of sixteen [1].", "Quantization cuts memory by 16x.", True),
        ("Galactic used 5 billion steps of experience [1].", "Galactic used 5B steps of experience.", True),
        ("Galactic achieves 421k steps per second [1].", "Galactic achieves 421,000 steps per second.", True),
        ("DyCL runs up to 20.21x faster [1].", "DyCL runs up to 20.21× faster.", True),
        ("Galactic simulates 54 percent faster than Habitat [1].", "Galactic simulates 54x faster than Habitat.", False),
        ("SNNKs cut trainable parameters by six times [1].", "SNNKs cut trainable parameters by 5x.", False),
        ("Galactic achieves 412k steps per second [1].", "Galactic achieves 421,000 steps per second.", False),
    ],
)
def test_numbers_are_compared_with_their_scale_and_unit(claim, source, kept):
    assert supported(claim, source) is kept


def test_a_sentence_true_of_another_paper_is_not_supported_by_this_one():
    assert not supported("It detects grapes in vineyard images with deep networks [1].", SOURCES[1])
    assert supported("It detects grapes in vineyard images with deep networks [3].", SOURCES[3])


def test_the_questions_words_count_as_held():
    sentence = "Yes, there is a detector of grapes in vineyard photographs [3]."
    assert not supported(sentence, SOURCES[3])
    assert supported(sentence, SOURCES[3], "Is there a detector of grapes in vineyard photographs?")


def test_a_sentence_dropping_the_sources_negation_is_not_supported():
    source = "LIB\nHowever, LIB does not yield substantial improvements when applied to language models."
    assert not supported("LIB yields substantial improvements when applied to language models [1].", source)
    assert supported("LIB does not yield substantial improvements on language models [1].", source)


def test_an_evaluative_claim_must_be_the_sources_own():
    assert not supported("FastTok is a state-of-the-art tokenizer that runs faster than BPE [2].", SOURCES[2])
    assert not supported("FastTok is the first tokenizer that runs faster than BPE [2].", SOURCES[2])
    source = SOURCES[2] + " FastTok outperforms state-of-the-art tokenizers."
    assert supported("FastTok outperforms state-of-the-art tokenizers on English text [2].", source)


def test_a_bare_number_must_count_the_same_thing_in_the_source():
    source = "Galactic\nGalactic trains a pick skill in 16 minutes; the largest run takes 46 hours."
    assert not supported("Galactic trains a pick skill in 46 minutes [1].", source)
    assert supported("Galactic trains a pick skill in 16 minutes [1].", source)
    assert supported("Galactic's largest run takes 46 hours [1].", source)


def test_a_number_with_a_unit_is_not_held_by_the_bare_number():
    assert not supported("Grapes are detected with 85% success in vineyard images [3].", SOURCES[3])


MOBILEDETS = (
    "MobileDets: Searching for Object Detection Architectures for Mobile Accelerators\n"
    "MobileDets outperform MobileNetV3+SSDLite by 1.7 mAP at comparable mobile CPU inference latencies. "
    "MobileDets also outperform MobileNetV2+SSDLite by 1.9 mAP on mobile CPUs, 3.7 mAP on Google EdgeTPU, "
    "3.4 mAP on Qualcomm Hexagon DSP and 2.7 mAP on Nvidia Jetson GPU without increasing latency."
)


def test_a_number_from_another_sentence_of_the_source_is_not_held():
    """2.7 is in the source, but in the sentence about the Jetson GPU, not the one the claim restates."""
    assert supported("MobileDets outperform MobileNetV3+SSDLite by 1.7 mAP at comparable mobile CPU inference latencies [1].", MOBILEDETS)
    assert not supported("MobileDets outperform MobileNetV3+SSDLite by 2.7 mAP at comparable mobile CPU inference latencies [1].", MOBILEDETS)


def test_a_number_credited_to_the_wrong_named_thing_is_not_held():
    assert supported("MobileDets outperform MobileNetV2+SSDLite by 3.4 mAP on Qualcomm Hexagon DSP [1].", MOBILEDETS)
    assert not supported("MobileDets outperform MobileNetV2+SSDLite by 3.7 mAP on Qualcomm Hexagon DSP [1].", MOBILEDETS)


def test_made_up_authors_go_and_the_claim_stays():
    """Tuning split t018: "by Arti et al." made the whole right answer go, and the question was refused."""
    source = ("Neural Circuit Architectural Priors for Embodied Control\nWe take the C. elegans locomotion circuits "
              "as an architectural prior for a network controlling a simulated Swimmer agent.")
    question = "Which paper copies the wiring of a worm's nervous system into a network for a swimming agent?"
    answer = ('The paper "Neural Circuit Architectural Priors for Embodied Control" by Arti et al. uses the C. elegans '
              "locomotion circuits to control a simulated Swimmer agent [1].")
    grounded = ground(answer, question, {1: source})
    assert grounded.text == answer.replace(" by Arti et al.", "") and grounded.removed_statements == ["by Arti et al."]
    known = answer.replace("Arti", "Bhattasali")
    assert ground(known, question, {1: f"{source} By Bhattasali and colleagues."}).text == known
    made_up_model = answer.replace("a simulated Swimmer agent", "the MuJoCo Humanoid")
    assert ground(made_up_model, question, {1: source}).text == ""  # another name made up: the sentence goes


def test_a_name_after_a_comma_is_the_sentences_subject_not_what_the_number_is_about():
    """Tuning split t047: "By 16%, GemNet-OC improves ..." was removed, as if 16% were about GemNet-OC."""
    source = ("GemNet-OC\nGemNet-OC outperforms the previous state-of-the-art on OC20 by 16% while reducing "
              "training time by a factor of 10.")
    assert supported("By 16%, GemNet-OC improves over the previous state of the art on OC20 [1].", source)
    assert not supported("By 16%, GemNet-OC improves over the previous state of the art on OC22 [1].", source)


def test_a_number_the_claim_combines_with_the_title_or_question_is_still_held():
    source = (
        "Scalable Neural Network Kernels\nWe introduce scalable neural network kernels (SNNKs), replacements of "
        "regular feedforward layers. SNNKs effectively disentangle the inputs from the parameters. "
        "We show that SNNKs cut the number of trainable parameters by up to 5x."
    )
    question = "Which work replaces feedforward layers with kernel layers, and how much does it cut trainable parameters?"
    claim = "The work Scalable Neural Network Kernels replaces feedforward layers with kernel layers and cuts trainable parameters by up to 5x [1]."
    assert supported(claim, source, question)


KARAT = ("Kolmogorov-Arnold Attention: Is Learnable Attention Better For Vision Transformers?\n"
         "In this paper, we are the first to design a general learnable Kolmogorov-Arnold Attention (KArAt) for vanilla "
         "ViTs that can operate on any choice of basis.{gap}The goal of this paper is not to produce parameter- and "
         "compute-efficient attention.")
GALACTIC_TITLED = ("Galactic: Scaling End-to-End Reinforcement Learning for Rearrangement at 100k Steps-Per-Second\n"
                   "We present Galactic, a large-scale simulation and reinforcement-learning (RL) framework for robotic "
                   "mobile manipulation in indoor environments.")


def test_a_negation_in_the_next_passage_of_an_excerpt_does_not_negate_the_claim():
    """Tuning split t094: the passages either side of a gap were read as one sentence, whose "not" removed KArAt."""
    line = "- KArAt [2]: a general learnable Kolmogorov-Arnold Attention for vanilla ViTs that can operate on any basis."
    assert supported(line, KARAT.format(gap=" … "))
    assert not supported(line, KARAT.format(gap=" ").replace("we are the first to design", "we do not design"))


def test_a_list_line_naming_a_sources_title_cites_it_and_the_title_is_not_a_claim():
    """Tuning split t083: the line had no [n], and the title's "100k" was held by no sentence of the abstract."""
    line = ("- Galactic: Scaling End-to-End Reinforcement Learning for Rearrangement at 100k Steps-Per-Second: a "
            "large-scale simulation and reinforcement-learning framework for robotic mobile manipulation.")
    grounded = ground(line, "Which papers use reinforcement learning?", {1: KARAT.format(gap=" "), 2: GALACTIC_TITLED})
    assert grounded.removed_statements == [] and grounded.text == line.removesuffix(".") + " [2]."


def test_a_line_naming_one_paper_and_telling_of_another_is_removed():
    """Re-cited to the paper it tells of, it read "- <title of one> : <what the other does> [other]"."""
    line = ("- Kolmogorov-Arnold Attention: Is Learnable Attention Better For Vision Transformers? [1]: a large-scale "
            "simulation and reinforcement-learning framework for robotic mobile manipulation in indoor environments.")
    grounded = ground(line, "Which papers build frameworks?", {1: KARAT.format(gap=" "), 2: GALACTIC_TITLED})
    assert grounded.text == "" and len(grounded.removed_statements) == 1


def test_a_negation_governs_the_words_after_it_not_the_whole_sentence():
    """Tuning split t002: "with minimal or no loss in performance" removed a right line on searching quantised GNNs."""
    source = ("Learned Low Precision Graph Neural Networks\nWe show, for the first time, how to systematically quantise "
              "GNNs with minimal or no loss in performance using Network Architecture Search (NAS).")
    assert supported("We show, for the first time, how to systematically quantise GNNs using Network Architecture "
                     "Search (NAS) [1].", source)
    assert not supported("Quantised GNNs lose performance [1].", source.replace("no loss", "a loss").replace(
        "minimal or ", "") + " Quantised GNNs do not lose performance.")


def test_a_number_is_held_by_the_sentence_its_own_clause_restates():
    """Tuning split t093: the line joined two of Galactic's sentences, and 85% was judged against the first."""
    source = GALACTIC_TITLED + (" This scaling results in a single neural network achieving 85% success in "
                                "GeometricGoal rearrangement, compared to 0% success reported in Habitat 2.0.")
    line = ("Galactic is a large-scale simulation and reinforcement-learning framework for robotic mobile manipulation, "
            "which achieves 85% success in GeometricGoal rearrangement [1].")
    assert supported(line, source)
    assert not supported(line.replace("85%", "0%"), source)
