"""Every reply of the pipeline, as the CLI's `--json`, the HTTP routes and the MCP tools give it.

The pipeline returns these models themselves. Fields that only the pipeline and the app need (the
excerpt a source showed the model, a paper's record) are excluded from serialisation, so what a
model dumps, and what `/openapi.json` describes, is exactly the contract.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import to_jsonable_python

from rag.paper import Paper

Internal = SkipJsonSchema
"""A field the pipeline and the app use, never sent: excluded from the JSON, left out of every schema."""


class Reply(BaseModel):
    # A reply read back (MCP checks what a tool returns) may use the names it was sent under.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True,
                              arbitrary_types_allowed=True)


class PaperInfo(Reply):
    """A paper as a library listing shows it: no abstract, so a long list stays small."""

    id: str = Field(description="The paper's id in the library (ids may contain '/').")
    title: str
    date: str = Field(description="ISO date, year-month or year; empty when unknown.")
    authors: list[str]
    source_file: str = Field(alias="source", description="The name of the file the paper was read from.")
    doi: str = Field("", description="The paper's DOI; empty when unknown.")
    arxiv_id: str = Field("", description="The paper's arXiv id, without version; empty when unknown.")

    @classmethod
    def of(cls, paper: Paper) -> PaperInfo:
        return cls(id=paper.id, title=paper.title, date=paper.date, authors=list(paper.authors),
                   source_file=paper.source_file, doi=paper.doi, arxiv_id=paper.arxiv_id)


class PaperDetail(PaperInfo):
    abstract: str

    @classmethod
    def of(cls, paper: Paper) -> PaperDetail:
        return cls(**PaperInfo.of(paper).model_dump(), abstract=paper.abstract)


class PaperPage(Reply):
    total: int = Field(description="Papers matching the filter, before paging.")
    items: list[PaperInfo]
    papers: int = Field(0, description="Papers in the whole library.")
    embedded: int = Field(0, description="Papers of the whole library whose passages are all embedded (found by "
                          "meaning too); the others are found by title and BM25 until `papers embed` is done.")


class SearchHit(Reply):
    id: str
    title: str
    score: float = Field(description="Reciprocal-rank fusion score of the paper's best passage.")
    passages: list[str] = Field(description="The paper's best-matching passages, best first.")
    similarity: Internal[float] = Field(0.0, exclude=True)
    """The best passage's cosine similarity to the query: tells 'nothing relevant' from 'a close race'."""


class Source(Reply):
    """A paper given to the model as numbered source [n]."""

    n: int
    id: str
    title: str
    excerpt: Internal[str] = Field("", exclude=True)
    """The abstract sentences the model was shown."""
    passages: Internal[list[str]] = Field(default_factory=list, exclude=True)
    score: Internal[float] = Field(0.0, exclude=True)
    similarity: Internal[float] = Field(0.0, exclude=True)
    abstract: Internal[str] = Field("", exclude=True)
    """The whole abstract, of which the model saw `excerpt`: a name it holds is not made up."""


class Citation(Reply):
    n: int = Field(description="The source number the answer cites as [n].")
    id: str
    title: str
    passage: str = Field(description="The source sentences the cited claims rest on.")


class Answer(Reply):
    text: str = Field(alias="answer", description="The checked answer with [n] citations.")
    citations: list[Citation] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list, description="Every paper the model was given.")
    removed_statements: list[str] = Field(
        default_factory=list, description="Sentences the checks removed: not supported by the sources."
    )
    removed_citations: list[int] = Field(
        default_factory=list, description="Citation numbers of sources that were not given, removed."
    )
    refused: bool = Field(False, description="True when the library does not answer the question.")
    question: Internal[str] = Field("", exclude=True)
    standalone_question: Internal[str] = Field("", exclude=True)
    """A follow-up rewritten to stand alone: what retrieval was asked."""


class Digest(Reply):
    id: str
    title: str
    digest: str
    removed_statements: list[str] = Field(
        default_factory=list, description="Sentences of the model's digest that the abstract does not support."
    )
    cached: Internal[bool] = Field(False, exclude=True)


class CardCell(Reply):
    aspect: str = Field(description="Problem, Approach, Data and setting, Key result or Limitation.")
    text: str = Field(description="At most 30 words.")
    quoted: bool = Field(
        False, description="True when the text is the abstract's own words: the model's cell was not supported "
        "by the abstract (or, for a limitation, always: only the abstract's own is given).",
    )


class Card(Reply):
    """A paper at a glance, written once by the model and checked against the abstract."""

    id: str
    title: str
    tldr: str = Field(description="The paper in at most 25 words.")
    tldr_quoted: bool = Field(False, description="True when the TL;DR is the abstract's own words.")
    digest: str = Field("", description="One paragraph of at most 90 words, in the model's words.")
    cells: list[CardCell] = Field(description="Problem, approach, data and setting, key result, limitation.")
    removed_statements: list[str] = Field(
        default_factory=list, description="Sentences of the model's digest that the abstract does not support."
    )
    cached: Internal[bool] = Field(False, exclude=True)

    @property
    def cells_beyond_tldr(self) -> list[CardCell]:
        """The cells a reader has not just read: a TL;DR that restated the title gives way to the approach
        cell (`rag.cards.checked_card`), which a card shown whole would otherwise print twice."""
        return [cell for cell in self.cells if cell.text != self.tldr]


class PaperRef(Reply):
    id: str
    title: str


class ComparisonRow(Reply):
    aspect: str = Field(description="TL;DR, then the cards' aspects: problem, approach, data, result, limitation.")
    a: str
    b: str
    quoted_a: bool = Field(False, description="True when A's cell is its abstract's own words.")
    quoted_b: bool = Field(False, description="True when B's cell is its abstract's own words.")


class Comparison(Reply):
    a: PaperRef
    b: PaperRef
    rows: list[ComparisonRow]
    in_common: str = Field("", description="What both papers share; empty until related.")
    difference: str = Field("", description="The key difference between them; empty until related.")
    stronger: str = Field(
        "", description="Which paper is stronger on what their abstracts measure; empty until related or when "
        "the model gave none the abstracts support.",
    )
    fell_back: bool = Field(
        False, description="True when the model gave no relation the abstracts support (the rows stand alone)."
    )
    paper_a: Internal[Paper | None] = Field(None, exclude=True)
    paper_b: Internal[Paper | None] = Field(None, exclude=True)

    @property
    def related(self) -> bool:
        return bool(self.in_common or self.fell_back)


class BriefPaper(Reply):
    id: str
    title: str
    tldr: str = Field(description="The paper in at most 25 words, from its card.")
    x: Internal[float] = Field(0.0, exclude=True)
    y: Internal[float] = Field(0.0, exclude=True)
    """Where the paper lies on the briefing's map: its vector on the papers' two principal axes."""


class BriefTopic(Reply):
    label: str = Field(description="The topic in 2 to 6 words.")
    papers: list[BriefPaper]


class Briefing(Reply):
    """A listing at a glance: its papers in labelled topics, each paper in exactly one."""

    topics: list[BriefTopic] = Field(description="4 to 12 topics, largest first (fewer only with fewer papers).")


class Rejection(Reply):
    """A record that was skipped. `line` is 1-based; for a JSON array it is the element number."""

    file: str
    line: int
    reason: str
    kind: Literal["unreadable", "no_abstract", "unsupported"] = Field(
        "unreadable",
        description="'no_abstract' for an entry with nothing to search (a book or web page in a reference "
        "manager's export): reported, but not counted toward refusing the file as mostly unreadable. "
        "'unsupported' for a file in an ingested folder that is no papers file (line 0): skipped.",
    )


def counts_text(added: int, unchanged: int, updated: int, rejected: int, merged: int = 0, no_abstract: int = 0) -> str:
    """What an ingest, or one file of it, gave, in words: "2 added, 0 unchanged, 0 updated, 1 rejected"."""
    return f"{added} added, {unchanged} unchanged, {updated} updated, {rejected} rejected" + (
        f", {merged} merged" if merged else "") + (f", {no_abstract} skipped without an abstract" if no_abstract else "")


class FileOutcome(Reply):
    """What one file of an ingest gave. A paper two files hold counts for the file it was first read
    from (added, updated or unchanged) and as merged for each later file whose record was merged in."""

    file: str = Field(description="The file's name, as its rejections give it (its path inside an ingested folder).")
    format: str = Field(
        description="The format it was read as ('bibtex', 'pdf', ... as `--format` names them); empty when it "
        "gave no papers: a file in a folder that is no papers file, or one refused whole (its rejection says why)."
    )
    added: int = Field(0, description="Its papers new to the library.")
    updated: int = Field(0, description="Its papers whose record in the library changed.")
    unchanged: int = Field(0, description="Its papers already in the library as read.")
    merged: int = Field(
        0, description="Its records of papers another file (of this ingest or the library) already held: "
        "merged into them, filling only the fields they lacked."
    )
    no_abstract: int = Field(0, description="Its entries skipped for having no abstract.")
    rejected: int = Field(0, description="Its records rejected as unreadable (1 for a file refused whole).")

    def summary(self) -> str:
        return counts_text(self.added, self.unchanged, self.updated, self.rejected, self.merged, self.no_abstract)


class IngestReport(Reply):
    added: list[str] = Field(default_factory=list, description="Ids of papers new to the library.")
    updated: list[str] = Field(default_factory=list, description="Ids of papers whose record changed.")
    unchanged: list[str] = Field(default_factory=list, description="Ids of papers already there as read.")
    merged: list[str] = Field(
        default_factory=list,
        description="Ids of papers another file's record of the same paper (same arXiv id, DOI or title) was "
        "merged into: it only filled the fields they lacked.",
    )
    rejected: list[Rejection] = Field(default_factory=list)
    files: list[FileOutcome] = Field(
        default_factory=list, description="What each file gave, in the order read (a folder's files one by one)."
    )

    def summary(self) -> str:
        kinds = Counter(r.kind for r in self.rejected)
        files = kinds["unsupported"]
        return counts_text(len(self.added), len(self.unchanged), len(self.updated), kinds["unreadable"],
                           len(self.merged), kinds["no_abstract"]) + (
            f", {files} file{'s' if files != 1 else ''} skipped as not papers files" if files else "")


class Job(Reply):
    """An upload being ingested in the background."""

    state: Literal["queued", "running", "done", "failed"] = "queued"
    done: int = Field(0, description="Papers embedded so far.")
    total: int = Field(0, description="Papers to embed (known once the files are read).")
    added: int = 0
    unchanged: int = 0
    updated: int = 0
    merged: int = 0
    rejected: list[Rejection] = Field(default_factory=list)
    files: list[FileOutcome] = Field(default_factory=list, description="What each file gave, once done.")
    error: str | None = None


class Stats(Reply):
    library: str = Field(description="The library folder, or the Chroma server it lives on.")
    papers: int
    embedded: int = Field(description="Papers whose passages are all embedded; the others are found by title and "
                          "BM25 until `papers embed` (or the ingest under way) has embedded them.")
    chunks: int = Field(description="Passages stored (each indexed for BM25, and embedded in turn).")
    embeddings: str = Field(description="The embedding model that built the library.")
    source_files: list[str] = Field(description="Names of the files the papers were read from.")


class JobCreated(Reply):
    job: str = Field(description="The job's id: GET /v1/jobs/ID says how it goes.")


class ErrorReply(Reply):
    error: str = Field(description="What went wrong and what to do about it.")


class OpenAIErrorDetail(Reply):
    message: str = Field(description="What went wrong and what to do about it.")
    type: str = Field(description="OpenAI's kind of error: invalid_request_error, not_found_error, ...")
    code: int = Field(description="The HTTP status.")


class OpenAIErrorReply(Reply):
    """The error object OpenAI's clients read, on the OpenAI-compatible routes."""

    error: OpenAIErrorDetail


def as_json(value: Any) -> Any:
    """A reply (or a list of them) as plain JSON values, as every interface gives it."""
    return to_jsonable_python(value, by_alias=True)
