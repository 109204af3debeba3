"""Request bodies, validated whole: a request the pipeline cannot take is 422, never a 500 (JSON's
parser also refuses text that is no text, such as a lone surrogate "\\ud800")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Turn(Body):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class SearchRequest(Body):
    query: str = Field(min_length=1, description="A question or a few words.")
    k: int | None = Field(default=None, ge=1, le=100, description="Papers to return (default PAPERS_TOP_K).")


class AskRequest(Body):
    question: str = Field(min_length=1)
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first, for follow-ups.")


class PaperRequest(Body):
    paper: str = Field(min_length=1, description="The paper's id or title.")


class CompareRequest(Body):
    a: str = Field(min_length=1, description="The first paper's id or title.")
    b: str = Field(min_length=1, description="The second paper's id or title.")


class TopicRequest(Body):
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
