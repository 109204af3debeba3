"""Every page of the Streamlit app through AppTest, on the real pipeline: SmolLM2, a copy of the sample
library, and no network. SmolLM2 rarely cites, so citations are checked on an Answer built here."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
from pathlib import Path

import pytest
import streamlit as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

import rag.ask
import rag.llm
from conftest import (
    PROJECT_DIR,
    SHORT_PAPERS,
    UI_APP,
    free_port,
    ingest,
    library_settings,
    sample_papers,
    silent_server,
    write_jsonl,
)
from rag.replies import Answer, Citation, Source

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TIMEOUT = 600  # seconds per script run: a shared 2-core machine can be slow
PORTAL = "Agents Play Thousands of 3D Video Games"
FGCNN = "Feature Generation by Convolutional Neural Network for Click-Through Rate Prediction"
SIAMESE = "Siamese based Neural Network for Offline Writer Identification on word level data"


@pytest.fixture(scope="module")
def paper_ids() -> dict[str, str]:
    return {paper.title: paper.id for paper in sample_papers()}


def app_module(monkeypatch, name: str):
    """One of the app's modules in ui/, the very module its pages import."""
    monkeypatch.syspath_prepend(str(UI_APP.parent))
    return importlib.import_module(name)


@pytest.fixture
def common(monkeypatch):
    return app_module(monkeypatch, "common")


@pytest.fixture
def render(monkeypatch):
    return app_module(monkeypatch, "render")


@pytest.fixture
def answers(monkeypatch):
    return app_module(monkeypatch, "answers")


@pytest.fixture
def open_app(monkeypatch, tmp_path: Path, ui_env: dict[str, str], common):
    """Start the app with `ui_env` plus overrides; `state` is put in Session State before the first run."""

    def open_app(page: str | None = None, state: dict | None = None, **env: str) -> AppTest:
        for name in list(os.environ):
            if name.startswith(("PAPERS_", "CHROMA_", "OPENAI_")):
                monkeypatch.delenv(name)
        for name, value in {**ui_env, **env}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)  # Settings also read ./.env: keep a developer's out
        st.cache_resource.clear()  # settings and the Retriever are per process
        app = AppTest.from_file(str(UI_APP), default_timeout=TIMEOUT)
        for key, value in (state or {}).items():
            app.session_state[key] = value
        app.run()
        if page:
            app.switch_page(f"views/{page}.py").run()
        assert not app.exception, app.exception
        return app

    yield open_app
    st.cache_resource.clear()


def ask(app: AppTest, question: str) -> AppTest:
    app.chat_input[0].set_value(question).run()
    assert not app.exception, app.exception
    return app


def cards(app: AppTest, block=None) -> list:
    """Source cards: their [n] titles are subheaders with an anchor."""
    return [h for h in (block or app).subheader if re.match(r"\\\[\d+\\\] ", h.value)]


def pick(app: AppTest, key: str, title: str, paper_id: str) -> AppTest:
    """Choose a paper in a picker as a user does: type words of its title, then pick it among the matches."""
    app.text_input(key=f"{key}:search").input(title).run()
    app.selectbox(key=key).set_value(paper_id).run()
    assert not app.exception, app.exception
    return app


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def jsonl(path: Path, records: list) -> tuple[str, bytes, str]:
    """An upload: (name, content, MIME type); a str record is written as a raw line."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return path.name, ("\n".join(lines) + "\n").encode(), "application/json"


# --- chat ---------------------------------------------------------------------------------------------


def test_chat_shows_sources_before_the_answer_then_the_answer_with_its_sources(open_app, common, answers, render,
                                                                              monkeypatch):
    events: list[str] = []
    card, stream_text = answers.source_card, common.stream_text

    def spy_card(*args, **kwargs):
        events.append(kwargs["anchor"])
        card(*args, **kwargs)

    def spy_stream(*args, **kwargs):
        events.append("stream")
        return stream_text(*args, **kwargs)

    monkeypatch.setattr(answers, "source_card", spy_card)
    monkeypatch.setattr(common, "stream_text", spy_stream)

    app = ask(open_app(), f"What is PORTAL in '{PORTAL}'?")

    (answer,) = app.session_state["chat"]
    assert answer.sources and answer.text.strip()
    live = [e for e in events[: events.index("stream")] if e.startswith("live-source-")]
    assert len(live) == len(answer.sources), events  # every source was on screen before generation
    user, assistant = app.chat_message
    assert user.markdown[0].value == render.md(answer.question)
    assert assistant.markdown[0].value == render.linked(answer.text, {c.n: f"turn0-source-{c.n}" for c in answer.citations})
    shown = cards(app, assistant)
    assert sorted(h.anchor for h in shown) == sorted(f"turn0-source-{s.n}" for s in answer.sources)
    assert PORTAL in {s.title for s in answer.sources}
    assert not app.get("download_button")[0].proto.disabled


def test_a_follow_up_is_asked_with_the_conversation_as_history(open_app, monkeypatch):
    histories = []
    condense = rag.ask.condense

    def spy(question, history, *args):
        histories.append(list(history))
        return condense(question, history, *args)

    monkeypatch.setattr(rag.ask, "condense", spy)
    app = ask(ask(open_app(), "Which framework plays thousands of 3D video games?"), "How are its policies improved?")

    first, second = app.session_state["chat"]
    assert histories == [[("user", first.question), ("assistant", first.text)]]
    assert second.question == "How are its policies improved?" and second.text.strip()
    assert [m.name for m in app.chat_message] == ["user", "assistant", "user", "assistant"]

    button(app, "New chat").click().run()
    assert app.session_state["chat"] == [] and not app.chat_message


def cited_answer(ids: dict[str, str]) -> Answer:
    """An answer citing source [2] only, whose title tries to inject a link."""
    evil = "[click](https://evil.example) <b>bold</b>"
    sources = [
        Source(n=1, id=ids[FGCNN], title=FGCNN, excerpt="FGCNN has two components.", score=0.03, similarity=0.41),
        Source(n=2, id=ids[PORTAL], title=f"{PORTAL} {evil}", excerpt="We present PORTAL.", score=0.03, similarity=0.62),
    ]
    citation = Citation(n=2, id=ids[PORTAL], title=sources[1].title, passage="PORTAL plays thousands of games.")
    return Answer(question="What is PORTAL?", standalone_question="What is PORTAL?", text="PORTAL is a game agent [2].",
                  sources=sources, citations=[citation])


def test_each_citation_links_to_its_card_whose_actions_open_digest_and_compare(open_app, render, paper_ids):
    answer = cited_answer(paper_ids)
    app = open_app(state={"chat": [answer]})

    assistant = app.chat_message[1]
    assert assistant.markdown[0].value == r"PORTAL is a game agent [\[2\]](#turn0-source-2)\."
    cited, other = cards(app, assistant)
    assert (cited.anchor, cited.value) == ("turn0-source-2", render.md(f"[2] {answer.sources[1].title}"))
    assert render.md("PORTAL plays thousands of games.") in [m.value for m in assistant.markdown]
    assert other.anchor == "turn0-source-1"
    assert app.expander[0].label == "Other sources retrieved (1)"

    app.button(key="turn0-2-digest").click().run()
    assert app.title[0].value == "Digest"
    assert app.selectbox(key="digest_paper").value == paper_ids[PORTAL]

    app.switch_page("views/chat.py").run()
    app.button(key="turn0-2-compare").click().run()
    assert app.title[0].value == "Compare"
    assert app.selectbox(key="compare_a").value == paper_ids[PORTAL]
    assert app.selectbox(key="compare_b").value is None


NASTY = [
    "[a link](https://evil.example/x) and ![an image](https://evil.example/i.png)",
    "<script>alert(1)</script> <img src=x onerror=alert(1)> &amp; &lt;",
    "https://zhongwen.one/projects/portal www.example.com me@example.com http://host:8080/p",
    "*emphasis* __strong__ `code` ~~strike~~ $x^2$ :red[colour] :material/home: :smile:a:b: \\*",
    "# heading\n> quote\n- item\n1. item\n---\n| a | b |",
]


@pytest.mark.parametrize("text", NASTY)
def test_md_leaves_library_text_literal(render, text: str):
    """Rendered by a CommonMark parser, escaped text is the text, with no markup; what Streamlit
    would link or turn into an icon after parsing is broken by an invisible word joiner."""
    html = MarkdownIt("commonmark").render(render.md(text))
    assert re.fullmatch(r"<p>.*</p>\n", html, re.S), html
    visible = html[3:-5].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert visible.replace(render.WORD_JOINER, "") == text
    assert not re.search(r"://|www\.|\w@|:[\w/+-]+:", visible)


@pytest.mark.parametrize("text", NASTY)
def test_md_of_a_stream_is_md_of_the_whole_text_however_it_is_split(render, text: str):
    for cut in range(len(text) + 1):
        assert render.md(text).startswith(render.md(text[:cut]))
        assert "".join(render.md_stream([text[:cut], text[cut:]])) == render.md(text)
    assert "".join(render.md_stream(text)) == render.md(text)  # one character at a time


def test_linked_makes_only_cited_numbers_links(render):
    assert render.linked("A [1], B [2] and [x](y).", {1: "s-1"}) == r"A [\[1\]](#s-1)\, B \[2\] and \[x\]\(y\)\."
    # one line per paper stays a list; nothing else in the line becomes syntax
    assert render.linked("- A [1]: *x*.\n- B-2 [2]: y.", {1: "s-1"}) == "- A [\\[1\\]](#s-1)\\: \\*x\\*\\.\n- B\\-2 \\[2\\]\\: y\\."


# --- digest and compare ------------------------------------------------------------------------------


def test_digest_streams_beside_the_abstract_then_comes_from_the_cache(open_app, render, paper_ids):
    app = pick(open_app("digest"), "digest_paper", FGCNN, paper_ids[FGCNN])
    assert not app.error

    abstract, digest = app.columns[:2]
    assert abstract.subheader[0].value == render.md(FGCNN)
    assert "Feature Generation" in abstract.markdown[0].value
    written = digest.markdown[0].value
    assert written.strip() and not any(c.value.startswith("Cached") for c in digest.caption)
    assert [h.value for h in digest.subheader] == ["Digest", "Card"]
    card = digest.markdown[1].value
    assert card.startswith("**TL;DR:**") and "- **Key result:**" in card

    app.run()
    abstract, digest = app.columns[:2]
    assert digest.caption[0].value.startswith("Cached")
    assert digest.markdown[0].value.split() == written.split()  # the cache keeps it as one paragraph
    assert digest.markdown[1].value == card


def test_digest_says_what_the_abstract_did_not_support(open_app, render, paper_ids, monkeypatch):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    reply = "Ptr-Net points at positions of its input sequence. Zorblax Labs released it in 1987."
    monkeypatch.setattr(rag.llm, "get_chat_model", lambda settings, progress=None: FakeListChatModel(responses=[reply]))
    app = pick(open_app("digest"), "digest_paper", "Pointer Networks", paper_ids["Pointer Networks"])
    digest = app.columns[1]
    assert digest.markdown[0].value == render.md("Ptr-Net points at positions of its input sequence.")
    assert digest.caption[0].value == render.lines("Removed, not supported by the abstract:\n- Zorblax Labs released it in 1987.")


def test_the_first_load_of_the_model_shows_its_stages(open_app, paper_ids, monkeypatch):
    """The model is loaded once per process, so its first load is replayed: each stage reported."""
    shared = rag.llm.get_chat_model

    def first_load(settings, progress=None):
        for stage in ("join", "verify", "load") if progress else ():
            progress(stage, 1.0)
        return shared(settings)

    monkeypatch.setattr(rag.llm, "get_chat_model", first_load)
    app = pick(open_app("digest"), "digest_paper", SIAMESE, paper_ids[SIAMESE])
    (status,) = app.status
    assert (status.label, status.state) == ("Language model ready", "complete")
    assert (app.progress[0].value, app.progress[0].text) == (100, "Loading the model into memory")
    assert app.columns[1].markdown[0].value.strip()  # and the digest was written


def test_pickers_search_the_library_as_one_types(open_app, common, paper_ids):
    """The picker lists the first matches of what is typed, asked of the library, never every title."""
    app = open_app("digest")
    library = common.library()
    first = library.papers(limit=common.PICKER_MATCHES)
    picker = app.selectbox(key="digest_paper")
    assert picker.options == [p.title for p in first.items] and picker.value is None
    assert app.caption[0].value == f"The first 20 of {first.total} matches; type more words to narrow them."

    app.text_input(key="digest_paper:search").input("CONVOLUTIONAL").run()
    matches = library.papers("convolutional", limit=20)
    assert 1 < matches.total <= 20 and FGCNN in [p.title for p in matches.items]
    assert app.selectbox(key="digest_paper").options == [p.title for p in matches.items]
    assert not app.caption  # every match is offered
    app.selectbox(key="digest_paper").set_value(paper_ids[FGCNN]).run()
    assert app.columns[0].subheader[0].value.startswith("Feature Generation")

    app.text_input(key="digest_paper:search").input("no paper is called this").run()
    picker = app.selectbox(key="digest_paper")  # the chosen paper stays offered and shown
    assert picker.options == [FGCNN] and picker.value == paper_ids[FGCNN]
    assert picker.placeholder == "No paper matches"


def test_topic_digest_lists_its_sources(open_app):
    app = open_app("digest")
    next(box for box in app.text_input if box.label == "Topic").input("video game agents")
    button(app, "Write a topic digest").click().run()
    assert not app.exception and not app.error

    answer = app.session_state["topic_digest"]
    assert answer.text.strip() and answer.sources
    assert sorted(h.anchor for h in cards(app)) == sorted(f"topic-source-{s.n}" for s in answer.sources)


def test_compare_shows_both_abstracts_then_their_cards_and_downloads(open_app, render, paper_ids):
    app = pick(open_app("compare"), "compare_a", PORTAL, paper_ids[PORTAL])
    pick(app, "compare_b", "click-through", paper_ids[FGCNN])
    assert app.selectbox(key="compare_a").value == paper_ids[PORTAL]
    left, right = app.columns[:2]
    assert left.subheader[0].value == render.md(PORTAL) and right.subheader[0].value == render.md(FGCNN)

    button(app, "Compare").click().run()
    assert not app.exception and not app.error
    status = next(box for box in app.status if box.label == "Related")
    assert [m.value for m in status.markdown] == [render.md("Relating the two papers")]
    cards = [m.value for m in app.markdown if m.value.startswith("**") and "**TL;DR:**" in m.value]
    assert [card.split("\n")[0] for card in cards] == [f"**{render.md(PORTAL)}**", f"**{render.md(FGCNN)}**"]
    for card in cards:
        aspects = [line.split(":**")[0] for line in card.split("\n")[2:]]
        assert aspects == ["- **Problem", "- **Approach", "- **Data and setting", "- **Key result", "- **Limitation", "- **Key terms"]
    assert any(m.value.startswith("**In common:**") for m in app.markdown)
    assert any(m.value.startswith("**Key difference:**") for m in app.markdown)
    assert [d.label for d in app.get("download_button")] == ["Download Markdown", "Download CSV"]

    app.run()  # cached: the same cards again, at once
    assert [m.value for m in app.markdown if "**TL;DR:**" in m.value] == cards


# --- briefing ------------------------------------------------------------------------------------------


def test_briefing_maps_the_papers_by_topic_then_lists_each_with_its_tldr(open_app, render, tmp_path: Path):
    folder = tmp_path / "library"
    ingest([write_jsonl(tmp_path / "short.jsonl", SHORT_PAPERS)], library_settings(folder))
    app = open_app("briefing", PAPERS_DATA_DIR=str(folder), PAPERS_PROMPTS_DIR=str(PROJECT_DIR / "prompts"))
    assert app.selectbox(key="brief_source").options == ["The whole library", "short.jsonl"]
    assert not app.get("vega_lite_chart")  # nothing is briefed until asked

    app.selectbox(key="brief_source").set_value("short.jsonl")
    button(app, "Brief").click().run()
    assert not app.exception and not app.error
    source, briefing = app.session_state["briefing"]
    assert source == "short.jsonl" and len(briefing.topics) == 2  # two papers: a topic each
    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    assert {field["field"] for field in spec["encoding"]["tooltip"]} == {"title", "tldr"}
    assert spec["encoding"]["color"]["field"] == "topic" and spec["params"][0]["name"] == "paper"
    assert [h.value for h in app.subheader] == [render.md(topic.label) for topic in briefing.topics]
    for topic in briefing.topics:
        (paper,) = topic.papers
        assert any(m.value == f"- **{render.md(paper.title)}**: {render.md(paper.tldr)}" for m in app.markdown)
    assert [d.label for d in app.get("download_button")] == ["Download Markdown"]

    tiny = SHORT_PAPERS[0]  # a click on its point, as the chart reports it
    app.session_state["brief_map"] = {"selection": {"paper": [{"id": tiny["id"]}]}}
    app.run()
    assert not app.exception and not app.error
    (card,) = [m.value for m in app.markdown if m.value.startswith(f"**{render.md(tiny['title'])}**\n**TL;DR:** ")]
    aspects = [line.split(":**")[0] for line in card.split("\n")[2:]]
    assert aspects[-4:] == ["- **Data and setting", "- **Key result", "- **Limitation", "- **Key terms"]  # alone, a
    # card leaves out a cell that only repeats its TL;DR (here the quoted fall-back's problem and approach)


# --- library -------------------------------------------------------------------------------------------


def record(n: int) -> dict:
    return {"id": f"up-{n}", "title": f"Uploaded paper {n}", "abstract": f"Paper {n} studies uploads.", "published": "2024-05-01"}


def test_an_empty_library_offers_the_bundled_sample(open_app, tmp_path: Path):
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(record(n)) + "\n" for n in (1, 2)))
    app = open_app(PAPERS_DATA_DIR=str(tmp_path / "empty"), PAPERS_SAMPLE_LIBRARY=str(sample))

    assert "The library is empty" in app.info[0].value and str(sample) in app.info[0].value
    assert not app.chat_input  # the page stops at the hint

    button(app, "Add the sample library").click().run()
    assert not app.exception and not app.error
    assert app.chat_input and not app.info
    app.switch_page("views/library.py").run()
    assert app.metric[0].value == "2"


def test_the_library_page_says_how_much_is_embedded(open_app, tmp_path: Path):
    from rag.store import open_store

    settings = library_settings(tmp_path / "library")
    ingest([write_jsonl(tmp_path / "three.jsonl", [record(n) for n in (1, 2, 3)])], settings)
    app = open_app("library", PAPERS_DATA_DIR=str(settings.data_dir))
    assert not [c for c in app.caption if "embedded" in c.value]
    open_store(settings).catalogue.mark_pending(["up-2"])  # as an interrupted embedding leaves it
    app.run()
    assert [c.value for c in app.caption if "embedded" in c.value][0].startswith("2 of 3 papers embedded")


def test_uploads_report_what_was_added_and_rejected_and_keep_the_library(open_app, render, tmp_path: Path):
    app = open_app("library", PAPERS_DATA_DIR=str(tmp_path / "library"))
    assert "The library is empty" in app.info[0].value

    def upload(name: str, content: tuple[str, bytes, str]) -> AppTest:
        app.file_uploader[0].set_value(content).run()
        button(app, "Add to the library").click().run()
        assert not app.exception, name
        return app

    upload("good", jsonl(tmp_path / "good.jsonl", [record(1), record(2)]))
    assert app.success[0].value == "2 added, 0 unchanged, 0 updated, 0 rejected"
    assert sorted(app.dataframe[0].value["Title"]) == ["Uploaded paper 1", "Uploaded paper 2"]

    upload("mixed", jsonl(tmp_path / "mixed.jsonl", [record(1), "{not json", {"title": "No abstract"}, record(3), record(4)]))
    assert app.success[0].value == "2 added, 1 unchanged, 0 updated, 2 rejected"
    rejected = app.dataframe[1].value
    assert list(rejected["File"]) == ["mixed.jsonl", "mixed.jsonl"] and list(rejected["Line"]) == [2, 3]
    assert "invalid JSON" in rejected["Reason"][0] and "abstract" in rejected["Reason"][1]

    upload("malformed", jsonl(tmp_path / "malformed.jsonl", ["{broken", {"title": "No abstract"}]))
    assert app.error[0].value.startswith(render.md("Nothing was added. malformed.jsonl: none of its 2 records"))
    assert len(app.dataframe[0].value) == 4 and app.metric[0].value == "4"

    mostly_bad = jsonl(tmp_path / "mostly_bad.jsonl", [record(5), "{not json", {"title": "No abstract"}])
    upload("mostly bad", mostly_bad)
    assert app.error[0].value.startswith(render.md("Nothing was added. mostly_bad.jsonl: 2 of its 3 records (67%)"))
    assert app.metric[0].value == "4"
    app.checkbox[0].check().run()
    upload("mostly bad, kept", mostly_bad)
    assert app.success[0].value == "1 added, 0 unchanged, 0 updated, 2 rejected"
    assert app.metric[0].value == "5"


def test_an_upload_of_several_files_shows_what_each_file_added_merged_and_skipped(open_app, tmp_path: Path):
    """A Zotero export (two entries of one title, two without an abstract) and a PubMed export at once."""
    app = open_app("library", PAPERS_DATA_DIR=str(tmp_path / "library"))
    files = [(name, (FIXTURES / name).read_bytes(), "text/plain") for name in ("zotero_partial.bib", "pubmed.nbib")]
    app.file_uploader[0].set_value(files).run()
    button(app, "Add to the library").click().run()
    assert not app.exception and not app.error
    assert app.success[0].value == "12 added, 0 unchanged, 0 updated, 0 rejected, 1 merged, 3 skipped without an abstract"
    papers, per_file, rejected = (frame.value for frame in app.dataframe)
    assert len(papers) == 12
    assert per_file.to_dict("records") == [
        {"File": "zotero_partial.bib", "Format": "bibtex", "Added": 9, "Merged": 1, "Updated": 0, "Unchanged": 0,
         "Skipped (no abstract)": 2, "Rejected": 0},
        {"File": "pubmed.nbib", "Format": "pubmed", "Added": 3, "Merged": 0, "Updated": 0, "Unchanged": 0,
         "Skipped (no abstract)": 1, "Rejected": 0},
    ]
    assert list(rejected["File"]) == ["zotero_partial.bib", "zotero_partial.bib", "pubmed.nbib"]


def test_the_library_page_shows_a_page_at_a_time_searched_and_filtered_by_the_library(open_app, common):
    app = open_app("library")
    library = common.library()
    every = library.papers()
    assert app.metric[0].value == "87" and every.total == 87

    def shown() -> tuple[list[str], str]:
        return list(app.dataframe[0].value["Id"]), next(c.value for c in app.caption if " papers · page " in c.value)

    assert shown() == ([p.id for p in every.items[:50]], "1–50 of 87 papers · page 1 of 2 · select rows to remove papers")
    assert button(app, "Previous").disabled
    button(app, "Next").click().run()
    assert shown() == ([p.id for p in every.items[50:]], "51–87 of 87 papers · page 2 of 2 · select rows to remove papers")
    assert button(app, "Next").disabled

    app.text_input(key="library_search").input("neural").run()  # a new search starts at its first page
    found = library.papers("neural")
    assert shown() == ([p.id for p in found.items], f"1–{found.total} of {found.total} papers · page 1 of 1 · "
                                                     "select rows to remove papers")
    assert app.selectbox(key="library_file").options == ["hf_papers.txt"]
    app.selectbox(key="library_file").set_value("hf_papers.txt").run()
    assert shown()[0] == [p.id for p in found.items]
    app.number_input(key="library_from").set_value(2020).run()  # the sample's papers have no dates
    assert app.dataframe[0].value.empty and "No paper matches the search and filters." in [c.value for c in app.caption]
    app.number_input(key="library_from").set_value(None).run()
    app.text_input(key="library_search").input("no paper is called this").run()
    assert app.dataframe[0].value.empty


def test_papers_selected_in_the_table_can_be_removed(open_app, tmp_path: Path):
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(record(n)) + "\n" for n in (1, 2, 3)))
    app = open_app("library", PAPERS_DATA_DIR=str(tmp_path / "library"), PAPERS_SAMPLE_LIBRARY=str(sample))
    button(app, "Add the sample library").click().run()
    table = app.dataframe[0].value
    app.session_state["papers"] = {"selection": {"rows": [0, 2], "columns": [], "cells": []}}
    app.run()
    button(app, "Remove 2 selected").click().run()
    assert not app.exception and app.metric[0].value == "1"
    assert list(app.dataframe[0].value["Title"]) == [table["Title"][1]]


# --- failures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server, message",
    [("unreachable", "Could not reach the model server"), ("silent", "accepted the connection but sent nothing for 1 s")],
)
def test_an_unreachable_model_server_is_an_error_and_the_sources_stay(open_app, render, server, message):
    with contextlib.ExitStack() as stack:
        base_url = stack.enter_context(silent_server()) if server == "silent" else f"http://127.0.0.1:{free_port()}/v1"
        app = open_app(
            PAPERS_LLM_BACKEND="openai", OPENAI_BASE_URL=base_url, OPENAI_API_KEY="x", PAPERS_OPENAI_MAX_RETRIES="0",
            PAPERS_OPENAI_FIRST_TOKEN_TIMEOUT="1",
        )
        assert render.md(f"openai: gpt-4o-mini @ {base_url}") in app.sidebar.markdown[0].value
        ask(app, f"What is PORTAL in '{PORTAL}'?")
    assert message in app.error[0].value
    assistant = app.chat_message[1]
    assert cards(app, assistant) and all(h.anchor.startswith("live-source-") for h in cards(app, assistant))
    assert app.session_state["chat"] == []
