"""The copy guard on a real model's tokens (SmolLM2): what it penalises, and that answers copy less with it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from langchain_core.messages import HumanMessage

from rag import llm
from rag.copy_guard import CAP, PENALTY, CopyGuard

pytestmark = pytest.mark.slow

SOURCE = "We introduce Galactic, a large-scale simulation and reinforcement-learning framework for robotic mobile manipulation in indoor environments."
PROMPT_TOKENS = [1, 2, 3]


@pytest.fixture(scope="module")
def llama(local_settings):
    return llm.get_chat_model(local_settings).llama


def tokens(llama, text: str) -> list[int]:
    return llama.tokenize(text.encode(), add_bos=False, special=False)


def penalties_after(guard: CopyGuard, llama, written: list[int]) -> np.ndarray:
    """The penalty on every token after `written` was generated, one token at a time."""
    scores = np.zeros(llama.n_vocab(), dtype=np.single)
    for end in range(len(written) + 1):
        scores = guard(np.array(PROMPT_TOKENS + written[:end], dtype=np.intc), np.zeros(llama.n_vocab(), dtype=np.single))
    return -scores


def copied_words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def longest_copied_run(text: str, source: str) -> int:
    said, held = re.findall(r"\w+", text.lower()), " ".join(re.findall(r"\w+", source.lower()))
    return max((n for i in range(len(said)) for n in range(1, len(said) - i + 1)
                if f" {' '.join(said[i:i + n])} " in f" {held} "), default=0)


def test_a_copied_run_shorter_than_the_limit_costs_nothing(llama):
    source = tokens(llama, SOURCE)
    short = next(n for n in range(len(source)) if copied_words(llama.detokenize(source[:n]).decode()) == 4)
    guard = CopyGuard(llama, [SOURCE], max_words=5)
    assert not penalties_after(guard, llama, source[:short]).any()


def test_the_token_continuing_a_long_copied_run_is_penalised_and_more_so_as_the_run_grows(llama):
    source = tokens(llama, SOURCE)
    five = next(n for n in range(len(source)) if copied_words(llama.detokenize(source[:n]).decode()) == 5)
    penalties = penalties_after(CopyGuard(llama, [SOURCE], max_words=5), llama, source[:five])
    assert penalties[source[five]] == PENALTY
    penalised_text = [llama.detokenize([t]).decode() for t in np.flatnonzero(penalties)]
    following = llama.detokenize(source[five:]).decode()
    assert all(following.startswith(text) for text in penalised_text)  # other spellings of the same start, no more
    longer = penalties_after(CopyGuard(llama, [SOURCE], max_words=5), llama, source[: len(source) - 1])
    assert longer[source[-1]] == CAP


def test_repeating_its_own_words_costs_like_copying_a_source(llama):
    line = tokens(llama, " - Galactic trains robots to tidy simulated homes quickly.\n")
    penalties = penalties_after(CopyGuard(llama, [], max_words=5), llama, line + line[:-3])
    assert penalties[line[-3]] > 0


def test_an_answer_told_not_to_copy_copies_shorter_runs(local_settings):
    """Greedy SmolLM2 asked to repeat a sentence re-types it; with the guard its longest copied run is shorter."""
    messages = [HumanMessage(f"Repeat after me: {SOURCE}")]
    copying = llm.get_chat_model(local_settings.model_copy(update={"max_copied_words": 0, "max_answer_tokens": 40}))
    guarded = llm.get_chat_model(local_settings.model_copy(update={"max_copied_words": 3, "max_answer_tokens": 40}))
    free = llm.avoiding_copies(copying, [SOURCE]).invoke(messages).content
    held = llm.avoiding_copies(guarded, [SOURCE]).invoke(messages).content
    assert longest_copied_run(free, SOURCE) >= 8
    assert longest_copied_run(held, SOURCE) < longest_copied_run(free, SOURCE)


def test_only_the_local_model_is_told(openai_server, local_settings):
    remote = llm.get_chat_model(local_settings.model_copy(update={"llm_backend": "openai", "openai_base_url": openai_server}))
    assert llm.avoiding_copies(remote, [SOURCE]) is remote
