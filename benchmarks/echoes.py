"""The rule that finds an answer restating its question (`rag.checks.restates_the_question`), which the
checks follow with the cited paper's sentence closest to the question: precision and recall on the
default model's answers to the tuning split (its word list and threshold were chosen there) and to
dev's one-paper questions (held out), labelled in benchmarks/echoes/ (see its README). No model runs.

Usage: python benchmarks/echoes.py
"""

from __future__ import annotations

from common import labelled, print_rule_figures
from rag.checks import restates_the_question


def verdicts(name: str) -> tuple[list[bool], list[bool]]:
    rows = labelled(name)
    return [restates_the_question(row["answer"], row["question"]) for row in rows], [row["echo"] for row in rows]


if __name__ == "__main__":
    print_rule_figures("answers", {"tuned": verdicts("echoes/tune.jsonl"), "held out": verdicts("echoes/heldout.jsonl")})
