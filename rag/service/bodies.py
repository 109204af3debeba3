"""Request bodies, validated whole: a request the pipeline cannot take is 422, never a 500 (JSON's
parser also refuses text that is no text, such as a lone surrogate "\\ud800")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.retrieval import Filters


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filtered(Body):
    """The filters every route that searches or lists offers, under the CLI's names (--source, --date-from,
    --date-to); a bad date or an unknown file is a 400 or 404 that says what to fix."""

    source: str = Field("", description="Only papers read from this file (its name, as GET /v1/stats lists it).")
    date_from: str = Field("", description="Only papers dated on or after this year, month or day: 2021, 2021-03 "
                                           "or 2021-03-16.")
    date_to: str = Field("", description="Only papers dated on or before this year, month or day (2021 takes in "
                                         "all of 2021).")

    def filters(self) -> Filters:
        return Filters(source=self.source, date_from=self.date_from, date_to=self.date_to)


class PaperListing(Filtered):
    """GET /v1/papers's query parameters."""

    q: str = Field("", description="Only papers whose title, id or authors contain this.")
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class Turn(Body):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class SearchRequest(Filtered):
    query: str = Field(min_length=1, description="A question or a few words.")
    k: int | None = Field(default=None, ge=1, le=100, description="Papers to return (default PAPERS_TOP_K).")


class AskRequest(Filtered):
    question: str = Field(min_length=1)
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first, for follow-ups.")


class PaperRequest(Body):
    paper: str = Field(min_length=1, description="The paper's id or title.")


class CompareRequest(Body):
    a: str = Field(min_length=1, description="The first paper's id or title.")
    b: str = Field(min_length=1, description="The second paper's id or title.")


class TopicRequest(Filtered):
    topic: str = Field(min_length=1)


class BriefRequest(Body):
    source: str | None = Field(default=None, min_length=1,
                               description="Only the papers read from this file (as GET /v1/stats lists it); "
                               "omitted: the whole library.")


class ContentPart(BaseModel):
    """One of OpenAI's content parts; only text parts are read."""

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """OpenAI's chat message; unknown fields (name, tool calls) are let through and ignored."""

    role: str
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text for part in self.content if part.type == "text" and part.text)
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = "papers"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
