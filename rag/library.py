"""The one door to a library: the CLI, the app, the service and MCP call only this.

A `Library` owns the settings, the store, the shared retriever and the chat model, and offers every
operation. It opens the store once, under a lock, on first use or on `open()`: Chroma's client is
not safe to create from several threads at once, and a server opens it before it says it is ready.

The answering modules import LangChain (about 0.6 s) and ingesting imports the readers and LangChain's
splitters: they are imported where they are used, so a command that only reads the library (`papers
list`, `stats`, a cached card or comparison) starts without them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.embeddings import get_embedder
from rag.errors import NotFound, PapersError
from rag.local_model import Progress as ModelProgress
from rag.lookup import find_paper
from rag.paper import Paper
from rag.replies import (
    Answer,
    Briefing,
    Card,
    Comparison,
    Digest,
    IngestReport,
    PaperDetail,
    PaperInfo,
    PaperPage,
    SearchHit,
    Stats,
)
from rag.retrieval import Filters, Retriever
from rag.settings import Settings
from rag.store import Store
from rag.wording import EMPTY_LIBRARY, no_papers_from, not_a_paper

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag.ask import AnswerStream, Turn
    from rag.digest import DigestStream

log = logging.getLogger(__name__)

IngestProgress = Callable[[int, int], None]
StepProgress = Callable[[str], None]
CardWritten = Callable[[str, Card], None]
NO_FILTERS = Filters()


class Library:
    def __init__(self, settings: Settings, model: BaseChatModel | None = None) -> None:
        self.settings = settings
        self._model = model
        self._retriever: Retriever | None = None
        self._opening = threading.Lock()
        self._writing = threading.Lock()
        """One ingest, removal or re-index at a time in this process."""

    # --- the parts -------------------------------------------------------------------------------

    def open(self) -> Library:
        """Open the store, load (or build) the BM25 index and load the embedding model now, instead
        of on the first request."""
        self.retriever.lexical()
        self.store.open_vectors()
        get_embedder(self.settings)
        return self

    @property
    def is_open(self) -> bool:
        return self._retriever is not None

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            with self._opening:
                if self._retriever is None:
                    self._retriever = Retriever(self.settings)
                    log.info("opened the library at %s", self.location)
        return self._retriever

    @property
    def store(self) -> Store:
        return self.retriever.store

    @property
    def location(self) -> str:
        settings = self.settings
        if settings.chroma_host:
            return f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
        return str(settings.data_dir)

    def model(self, progress: ModelProgress | None = None) -> BaseChatModel:
        """The chat model, loaded on first use (the first local load joins and verifies the bundled
        model, then loads it: `progress` hears each stage)."""
        from rag.llm import get_chat_model

        return self._model or get_chat_model(self.settings, progress)

    def describe_model(self) -> str:
        from rag.llm import describe_backend

        return describe_backend(self.settings)

    # --- the library's papers --------------------------------------------------------------------

    def papers(self, query: str = "", limit: int | None = None, offset: int = 0, source: str = "",
               date_from: str = "", date_to: str = "") -> PaperPage:
        """Papers by title; `query` keeps those whose title, id or authors contain it, and the filters
        those read from one file or dated within a range (as `Filters` reads them)."""
        filters = Filters(source=source, date_from=date_from, date_to=date_to).checked()
        found, total = self.store.papers_page(query, offset, limit, filters.source, filters.date_from, filters.date_to)
        if not total:
            self._found_nothing(filters)
        embedded, papers = self.store.embedded_share()
        return PaperPage(total=total, items=[PaperInfo.of(p) for p in found], papers=papers, embedded=embedded)

    def source_files(self) -> list[str]:
        return self.store.source_files()

    def _found_nothing(self, filters: Filters) -> None:
        """A NotFound when nothing was found because the filters name a file the library does not hold."""
        if filters.source:
            filters.check_source(self.store.source_files())

    def paper(self, paper_id: str, where: str = "`papers list`") -> PaperDetail:
        """One paper by its exact id; `where` tells the user how to list the ids."""
        paper = self.store.paper(paper_id)
        if paper is None:
            raise NotFound(not_a_paper(paper_id, where))
        return PaperDetail.of(paper)

    def show(self, name: str) -> PaperDetail:
        """One paper, named by id or title, with its abstract."""
        return PaperDetail.of(self.find(name))

    def find(self, name: str) -> Paper:
        """A paper named by id or title, with suggestions when the name is a near miss."""
        return find_paper(self.store, name)

    def stats(self) -> Stats:
        embedded, papers = self.store.embedded_share()
        return Stats(library=self.location, papers=papers, embedded=embedded, chunks=self.store.count(),
                     embeddings=self.store.built_with, source_files=self.store.source_files())

    def ingest(self, paths: Sequence[Path], format: str | None = None, progress: IngestProgress | None = None,
               keep_partial: bool = False, names: Sequence[str] | None = None) -> IngestReport:
        """`names` are what messages and the papers' `source` call the files (an upload's own names),
        when they are not the paths' names. The papers are searchable by title and BM25 once they
        are read; `progress` then hears (papers embedded, papers to embed)."""
        from rag import ingest as ingesting

        reading = ingesting.read_all(list(paths), format, keep_partial, names)
        with self._writing:
            report = ingesting.add(reading, self.retriever)
        log.info("ingested %s: %s", ", ".join(map(str, paths)), report.summary())
        try:
            self.embed(progress)
        except PapersError as exc:
            raise type(exc)(f"{report.summary()}: the papers are in the library and found by title and BM25, but "
                            f"embedding them stopped. {exc} Run `papers embed` to finish.") from exc
        return report

    def embed(self, progress: IngestProgress | None = None) -> int:
        """Embed the chunks not embedded yet (an ingest or re-index stopped part way); returns how
        many papers. Searches go on meanwhile, dense ones over what is embedded."""
        from rag import ingest as ingesting

        embedded = ingesting.embed_pending(self.store, self.settings, progress)
        if embedded:
            log.info("embedded %d papers", embedded)
        return embedded

    def remove(self, paper_id: str, where: str = "`papers list`") -> None:
        from rag import ingest as ingesting

        with self._writing:
            if not ingesting.remove(paper_id, self.retriever):
                raise NotFound(not_a_paper(paper_id, where))
        log.info("removed %s", paper_id)

    def reindex(self, progress: IngestProgress | None = None) -> int:
        from rag import ingest as ingesting

        with self._writing:
            return ingesting.reindex(self.retriever, progress)

    # --- answers -----------------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, filters: Filters = NO_FILTERS) -> list[SearchHit]:
        filters = filters.checked()
        hits = self.retriever.search(query, k, filters)
        if not hits:
            self._found_nothing(filters)
        return hits

    def ask_stream(self, question: str, history: Sequence[Turn] = (), prompt_name: str = "ask",
                   filters: Filters = NO_FILTERS) -> AnswerStream:
        """Retrieval is done when this returns, so the sources can be shown while the answer streams;
        `filters` limit the papers it may draw on."""
        from rag.ask import AnswerStream, prepare

        filters = filters.checked()
        prepared = prepare(question, history, self.retriever, self.model, prompt_name, filters)
        if not prepared.sources:
            self._found_nothing(filters)
        return AnswerStream(prepared, self.model, self.settings)

    def ask(self, question: str, history: Sequence[Turn] = (), filters: Filters = NO_FILTERS) -> Answer:
        return finished(self.ask_stream(question, history, filters=filters))

    def topic_stream(self, topic: str, filters: Filters = NO_FILTERS) -> AnswerStream:
        return self.ask_stream(topic, prompt_name="topic", filters=filters)

    def topic(self, topic: str, filters: Filters = NO_FILTERS) -> Answer:
        """A cited paragraph on what the library's papers say about `topic`."""
        return finished(self.topic_stream(topic, filters))

    def digest_stream(self, name: str) -> DigestStream:
        """The digest of the paper's card, streamed as it is written."""
        from rag.digest import DigestStream

        return DigestStream(self.find(name), self.model, self.settings)

    def digest(self, name: str) -> Digest:
        stream = self.digest_stream(name)
        for _ in stream:
            pass
        return stream.digest

    def card(self, name: str, digest: bool = True) -> Card:
        """A paper's card, written by the model on first use and cached; `digest` adds the card's digest."""
        from rag.cards import paper_card

        return paper_card(self.find(name), self.model, self.settings, digest)

    def write_cards(self, names: Sequence[str] = (), progress: IngestProgress | None = None) -> int:
        """Write the cards (with digests) of the named papers, or of every paper, ahead of use; those
        already written are skipped, so an interrupted run resumes. Returns how many were written."""
        from rag.cards import paper_card

        papers = [self.find(name) for name in names] if names else self.store.papers()
        written = 0
        for done, paper in enumerate(papers, start=1):
            written += not paper_card(paper, self.model, self.settings).cached
            if progress:
                progress(done, len(papers))
        return written

    def brief(self, source: str | None = None, progress: IngestProgress | None = None) -> Briefing:
        """The papers read from the file `source` (by its name, as `stats` lists it), or the whole
        library's, in 4 to 12 labelled topics with a TL;DR each. Cards not yet written are written
        first; `progress` hears (done, total) over the cards, then the topics' labels."""
        from rag.briefing import brief

        papers = self.store.papers()
        if source is not None:
            papers = [p for p in papers if p.source_file in (source, Path(source).name)]
            source = papers[0].source_file if papers else source
        if not papers:
            files = self.store.source_files()
            raise NotFound(no_papers_from(source, files)) if files else PapersError(EMPTY_LIBRARY)
        return brief(papers, self.store.paper_vectors(source), self.model, self.settings, progress)

    def side_by_side(self, name_a: str, name_b: str, written: CardWritten | None = None,
                     model: Callable[[], BaseChatModel] | None = None) -> Comparison:
        """The two papers' cards as columns (written first unless cached; `written` hears "A" and "B"
        with each card as it is ready); `relate` adds what links them."""
        from rag.cards import paper_card
        from rag.compare import check_pair, side_by_side

        a, b = self.find(name_a), self.find(name_b)
        check_pair(a, b)
        cards = []
        for name, paper in zip("AB", (a, b)):
            cards.append(paper_card(paper, model or self.model, self.settings, digest=False))
            if written:
                written(name, cards[-1])
        return side_by_side(a, b, *cards)

    def relate(self, comparison: Comparison, progress: StepProgress | None = None,
               model: Callable[[], BaseChatModel] | None = None) -> Comparison:
        """`model` loads the model instead of `self.model` (the app shows the first load's stages);
        a cached pair needs none."""
        from rag.compare import relate

        return relate(comparison, model or self.model, self.settings, progress)

    def compare(self, name_a: str, name_b: str, progress: StepProgress | None = None) -> Comparison:
        return self.relate(self.side_by_side(name_a, name_b), progress)


def finished(stream: AnswerStream) -> Answer:
    for _ in stream:
        pass
    return stream.answer
