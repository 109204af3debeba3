"""What a question asks for: one paper (or a fact from one) or every paper that fits.

"Which papers use hypernetworks?" wants a list, so it gets more sources and a one-line-per-paper
prompt; "Which paper reaches 85% success?" wants one answer. `benchmarks/lists.py` prints this
rule's precision and recall on benchmarks/list_questions*.jsonl and the dev questions.
"""

from __future__ import annotations

import re

PLURAL_KINDS = (
    r"(?:papers|abstracts|articles|works|studies|methods|models|approaches|architectures|frameworks|techniques"
    r"|systems|surveys|reviews|ones)"
)
SEVERAL = re.compile(
    r"\b(?:papers|abstracts|articles)\b"
    rf"|\b(?:which|what|any|all|these|list|(?:show|find|give) me)\s+(?:[\w-]+\s+){{0,2}}?{PLURAL_KINDS}\b"
    r"|\b(?:list|(?:show|find|give) me) (?:[\w-]+\s+){0,2}?work\b|\bevery (?:paper|study|work|method)\b|\bthe studies\b"
    r"|\b(?:anything|everything)\s+(?:on|about|in)\b|^\s*anything\b"
    r"|\bwhat (?:work|research)\b|\bwhat (?:do|does) (?:you|we|the library|this library) have\b|\bwhat has been\b"
    r"|\bwhich of (?:these|them|those)\b|\b(?:every|all(?: the)?|any) (?:abstracts?|work|works)\b|\bthe works\b"
    r"|\brelated work\b|\bwhat should i cite\b|\bwhat(?:'s| is) (?:in )?here\b"
    r"|\ball of (?:it|them)\b",
    re.I,
)
ONE = re.compile(
    r"\bwhich one\b|\bthe one\b|\bin which paper\b|\bone paper\b|\bthe (?:paper|study) (?:on|about|that)\b"
    r"|\bwhich of (?:these|the|all the|those) (?:papers|works|studies|methods|models) (?:is|was|\w+s)\b"
    r"|\bwhich (?:[\w-]+\s+){0,2}?(?:paper|method|model|approach|architecture|framework|system)\b(?!-)"
    r"|\bhow (?:many|much)\b(?!\s+(?:[\w-]+\s+)?(?:papers|works|studies|articles|abstracts)\b)"
    r"|\bin the (?:work|paper|study) (?:on|that|where|which|about)\b",
    re.I,
)
"""'Of the KAN papers, which one ...', 'Which of the papers reports the highest ...' or 'Which paper
studies ...' names papers but wants one; so does a question for a number ('How many comments ...')
or about one work ('In the work on ..., what ...'), though 'How many papers ...' wants a list."""


def asks_for_several(question: str) -> bool:
    return bool(SEVERAL.search(question)) and not ONE.search(question)


SECOND_PART = re.compile(
    r"(?:,\s*|\s+)and\s+(?=(?:what|which|how|does|do|did|is|are|was|were|where|who|why|can|on how|by how|in how)\b)",
    re.I,
)
"""'Which add-on lowers the dead neuron rate, and what gains does it report?' asks two things; a small
model answers the first and stops unless the parts are set out. `benchmarks/lists.py` prints this
rule's precision and recall on the labelled parts of the tuning and held-out questions."""


def question_parts(question: str) -> list[str]:
    """The question's parts, in order; a one-part question is its own only part."""
    parts = [part.strip(" ,?") for part in SECOND_PART.split(question)]
    parts = [part for part in parts if part]
    return parts if len(parts) > 1 else [question]
