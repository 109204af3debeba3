"""The stopping rules and the answer checks on their own, without a library or a model."""

from __future__ import annotations

from rag.checks import QUOTE_SIMILARITY, check
from rag.replies import Source
from rag.stopping import Stopping
from rag.wording import NO_ANSWER

SENTENCE = "Galactic trains a Fetch robot for rearrangement in simulated homes [1]."


def repeated(times: int) -> str:
    return " ".join([SENTENCE] * times)


def fed(rules: Stopping, pieces: list[str]) -> tuple[str, int]:
    """What is shown of `pieces`, fed one by one until a rule ends the answer, and how many were read."""
    shown, read = "", 0
    for piece in pieces:
        read += 1
        text = rules.take(piece)
        shown += text or ""
        if rules.rule:
            break
    return shown, read


def words(text: str) -> list[str]:
    return [word + " " for word in text.split()]


def test_an_answer_ends_at_the_first_sentence_end_past_its_word_limit():
    rules = Stopping(max_words=20)
    shown, read = fed(rules, words(repeated(10)))
    assert rules.rule == "answer long enough" and shown.rstrip().endswith("[1].")
    assert 20 < len(shown.split()) <= 20 + len(SENTENCE.split())
    assert read < len(words(repeated(10))) and rules.written == shown


def test_a_short_answer_is_shown_whole():
    rules = Stopping(max_words=100)
    assert fed(rules, words(repeated(2))) == ("".join(words(repeated(2))), len(words(repeated(2))))
    assert rules.rule == ""


def test_a_list_line_that_runs_on_is_hidden_to_its_end_and_the_next_line_shown():
    rules = Stopping(max_words=100, max_line_words=12)
    first = "- Galactic [1]: " + repeated(2)
    shown, _ = fed(rules, [*words(first), "\n- Other [2]: more."])
    assert shown == "- Galactic [1]: " + SENTENCE + " \n- Other [2]: more."
    assert rules.rule == "" and rules.written == shown


def test_a_line_hidden_for_longer_than_a_whole_answer_ends_it():
    rules = Stopping(max_words=30, max_line_words=12)
    shown, _ = fed(rules, words("- Galactic [1]: " + repeated(20)) + ["\n- Other [2]: more."])
    assert rules.rule == "hidden line ran on" and "Other" not in shown


def test_a_list_that_comes_back_to_a_listed_paper_ends_before_that_line():
    rules = Stopping(max_words=100, max_line_words=30)
    lines = ["- A [1]: one.\n", "- B [2]: two.\n", "- A again [1]: one more."]
    fed(rules, lines)
    assert rules.rule == "list went round" and rules.written == "- A [1]: one.\n- B [2]: two.\n"


def source(n: int, title: str, excerpt: str, similarity: float = 0.6) -> Source:
    return Source(n=n, id=f"p{n}", title=title, excerpt=excerpt, similarity=similarity, abstract=excerpt)


GALACTIC = source(1, "Galactic", "Galactic simulates a Fetch robot 54x faster than Habitat 2.0. It reaches 85% success.")
OTHER = source(2, "Pointer Networks", "Ptr-Nets point at positions of their input sequence.", 0.3)


def test_check_keeps_supported_sentences_and_cites_their_passage():
    answer = check("Galactic simulates a Fetch robot 54x faster than Habitat 2.0 [1].", [GALACTIC, OTHER],
                   question="How fast is Galactic?", standalone="How fast is Galactic?")
    assert not answer.refused and [c.n for c in answer.citations] == [1]
    assert answer.citations[0].passage == "Galactic simulates a Fetch robot 54x faster than Habitat 2.0."


def test_check_removes_an_unsupported_number_and_quotes_a_source_about_the_question():
    answer = check("Galactic simulates 999x faster [1].", [GALACTIC], question="How fast?", standalone="How fast is Galactic?")
    assert answer.removed_statements == ["Galactic simulates 999x faster."]
    assert GALACTIC.similarity >= QUOTE_SIMILARITY and answer.text.startswith('Quoted from "Galactic" [1]')


def test_check_refuses_what_the_model_refused_and_cites_nothing():
    answer = check("The sources do not answer this question [2].", [GALACTIC, OTHER], question="q", standalone="q")
    assert answer.refused and answer.text == NO_ANSWER and answer.citations == []


def test_a_last_sentence_cut_off_by_the_token_limit_is_removed():
    answer = check("Galactic reaches 85% success [1]. It also", [GALACTIC], question="q", standalone="q", cut_off=True)
    assert answer.text == "Galactic reaches 85% success [1]." and answer.removed_statements == ["It also"]
