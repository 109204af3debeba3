"""The rule that finds an answer restating its question (`rag.checks.restates_the_question`), which the
checks follow with the cited paper's sentence closest to the question: precision and recall on the
default model's answers to the tuning split (its word list and threshold were chosen there) and to
dev's one-paper questions (held out), labelled in benchmarks/echoes/ (see its README). No model runs.

Usage: python benchmarks/echoes.py
"""

from __future__ import annotations

from common import judged, print_rule_figures
from rag.checks import restates_the_question


def judge(row: dict) -> bool:
    return restates_the_question(row["answer"], row["question"])


if __name__ == "__main__":
    print_rule_figures("answers", {"tuned": judged("echoes/tune.jsonl", judge, "echo"),
                                   "held out": judged("echoes/heldout.jsonl", judge, "echo")})
