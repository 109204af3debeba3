"""Paper cards: written by the model once per paper, checked against the abstract, cached until the
abstract, the model or the prompt changes; `papers cards` writes them ahead of use, resumably.

The checks are driven by fake chat models whose replies are fixed; the card also runs end to end on
the small real model, SmolLM2-135M, whose wording is not asserted, only the card's limits."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import (
    BACKEND_PACKAGES,
    PAPERS_CLI,
    ScriptedModel,
    UncallableModel,
    cli_env,
    contents,
    ingest,
    library_settings,
    packages_imported,
    small_model,
    write_jsonl,
)
from rag.aspects import NOT_STATED
from rag.cards import MAX_CELL_WORDS, MAX_TLDR_WORDS, NO_TERMS, clipped
from rag.cli import main
from rag.digest import longest_digest
from rag.library import Library
from rag.replies import as_json
from rag.settings import Settings

DRONE = {
    "id": "p-drone",
    "title": "SkyCount: Counting Sheep from Drone Video",
    "abstract": "Counting livestock on large farms is slow and costly. We present SkyCount, a detector that "
    "counts sheep in drone video with a lightweight YOLO model and a tracking step that avoids counting an "
    "animal twice. On 120 videos from 14 farms, SkyCount counts flocks with 97.2% accuracy and runs at 30 "
    "frames per second on a Jetson Nano. Our method cannot handle flocks hidden under trees, and it was only "
    "tested in daylight.",
}
OTHER = {
    "id": "p-rain",
    "title": "Rainfall Nowcasting with Graph Networks",
    "abstract": "We forecast rainfall for the next hour with a graph network over 400 weather stations. "
    "It beats optical-flow nowcasting by 11% in critical success index on two years of radar data.",
}
WRITTEN = {
    "tldr": "SkyCount counts sheep in drone video with a lightweight YOLO model and tracking.",
    "problem": "Counting livestock on large farms is slow and costly.",
    "approach": "A lightweight YOLO detector plus tracking, so that no animal is counted twice.",
    "data": "120 drone videos from 14 farms.",
    "result": "97.2% counting accuracy at 30 frames per second on a Jetson Nano.",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = library_settings(tmp_path / "library")
    ingest([write_jsonl(tmp_path / "farm.jsonl", [DRONE, OTHER])], settings)
    return settings


def card_of(settings: Settings, *replies: str, paper: str = "p-drone"):
    model = ScriptedModel(responses=list(replies))
    return Library(settings, model).card(paper), model


def test_a_card_holds_the_models_cells_the_abstracts_limitation_and_the_digest(settings):
    card, model = card_of(settings, json.dumps(WRITTEN), "SkyCount counts sheep from drones with 97.2% accuracy.")
    assert len(model.seen) == 2  # the card, then its digest
    assert "SkyCount" in contents(model.seen[0])[1][1] and "Rainfall" not in contents(model.seen[0])[1][1]
    assert card.tldr == WRITTEN["tldr"] and not card.tldr_quoted
    assert [(cell.aspect, cell.text, cell.quoted) for cell in card.cells] == [
        ("Problem", WRITTEN["problem"], False),
        ("Approach", WRITTEN["approach"], False),
        ("Data and setting", WRITTEN["data"], False),
        ("Key result", WRITTEN["result"], False),
        ("Limitation", "Our method cannot handle flocks hidden under trees, and it was only tested in daylight.", True),
        ("Key terms", "SkyCount; YOLO model; Jetson Nano", False),  # the abstract's own names, found without the model
    ]
    assert card.digest == "SkyCount counts sheep from drones with 97.2% accuracy." and not card.cached
    assert set(as_json(card)) == {"id", "title", "tldr", "tldr_quoted", "digest", "cells", "removed_statements"}


def test_a_cell_naming_or_numbering_what_the_abstract_lacks_becomes_its_closest_clause_quoted(settings):
    invented = {**WRITTEN, "result": "SkyCount reaches 99.9% accuracy on the MegaFlock benchmark.",
                "approach": "A Mask R-CNN detector with tracking."}
    card, _ = card_of(settings, json.dumps(invented), "Digest.")
    result = next(cell for cell in card.cells if cell.aspect == "Key result")
    approach = next(cell for cell in card.cells if cell.aspect == "Approach")
    assert result.quoted and "99.9" not in result.text and result.text.rstrip("…") in DRONE["abstract"]
    assert "97.2% accuracy" in result.text  # the abstract's sentence that says what the cell was about
    assert approach.quoted and approach.text.rstrip("…") in DRONE["abstract"]
    assert all(len(cell.text.split()) <= MAX_CELL_WORDS for cell in card.cells)


def test_not_stated_stands_for_data_and_results_and_an_empty_cell_falls_back_to_the_abstract(settings):
    said = {**WRITTEN, "data": "Not stated.", "problem": ""}
    card, _ = card_of(settings, json.dumps(said), "Digest.")
    cells = {cell.aspect: cell for cell in card.cells}
    assert cells["Data and setting"].text == NOT_STATED
    assert cells["Problem"].quoted and cells["Problem"].text == "Counting livestock on large farms is slow and costly."
    card, _ = card_of(settings, json.dumps({"tldr": "Graph nowcasting.", "problem": "Rainfall in the next hour.",
                                            "approach": "A graph network.", "data": "N/A", "result": "N/A"}),
                      "Digest.", paper="p-rain")
    assert card.cells[2].text == NOT_STATED


@pytest.mark.parametrize("result", ["Not stated.", "SkyCount counts flocks accurately and fast on a Jetson Nano."])
def test_a_key_result_without_the_abstracts_numbers_becomes_its_result_sentence_quoted(settings, result):
    card, _ = card_of(settings, json.dumps({**WRITTEN, "result": result}), "Digest.")
    cell = next(cell for cell in card.cells if cell.aspect == "Key result")
    assert cell.quoted and "97.2% accuracy" in cell.text and cell.text.rstrip("…") in DRONE["abstract"]
    assert len(cell.text.split()) <= MAX_CELL_WORDS


def test_a_paper_without_a_stated_limitation_gets_none(settings):
    card, _ = card_of(settings, json.dumps({"tldr": "Graph nowcasting.", "problem": "Rainfall in the next hour.",
                                            "approach": "A graph network over 400 weather stations.",
                                            "data": "Two years of radar data.", "result": "11% better."}),
                      "Digest.", paper="p-rain")
    assert (card.cells[-2].aspect, card.cells[-2].text, card.cells[-2].quoted) == ("Limitation", NOT_STATED, False)
    assert (card.cells[-1].aspect, card.cells[-1].text) == ("Key terms", NO_TERMS)


def test_long_cells_and_tldrs_are_cut_at_a_clause(settings):
    wordy = {**WRITTEN, "tldr": "SkyCount, " + "a detector for sheep in drone video, " * 6 + "counts flocks.",
             "approach": "SkyCount uses a lightweight YOLO model, " + "with tracking, " * 20}
    card, _ = card_of(settings, json.dumps(wordy), "Digest.")
    assert len(card.tldr.split()) <= MAX_TLDR_WORDS and card.tldr.endswith("…")
    assert all(len(cell.text.split()) <= MAX_CELL_WORDS for cell in card.cells)
    assert clipped("One two three. Four five.", 3) == "One two three."
    assert clipped("alpha beta, gamma delta epsilon zeta", 4) == "alpha beta…"
    assert clipped("a b c d e f g h", 4) == "a b c d…"


def test_a_card_is_cached_and_rewritten_when_the_abstract_or_the_prompt_changes(settings, tmp_path):
    first, _ = card_of(settings, json.dumps(WRITTEN), "Digest one.")
    again = Library(settings, UncallableModel()).card("SkyCount")  # by title, no model
    assert again.cached and as_json(again) == as_json(first)

    prompts = tmp_path / "prompts"
    shutil.copytree(settings.prompts_dir, prompts)
    (prompts / "card.system.txt").write_text((prompts / "card.system.txt").read_text() + "\nBe brief.\n")
    reworded = settings.model_copy(update={"prompts_dir": prompts})
    card, model = card_of(reworded, json.dumps({**WRITTEN, "tldr": "SkyCount tracks sheep so none is counted twice."}))
    assert card.tldr == "SkyCount tracks sheep so none is counted twice." and len(model.seen) == 1  # the digest stays cached

    changed = {**DRONE, "abstract": DRONE["abstract"].replace("97.2%", "96.8%")}
    assert ingest([write_jsonl(tmp_path / "farm.jsonl", [changed, OTHER])], settings).updated == ["p-drone"]
    card, model = card_of(settings, json.dumps({**WRITTEN, "result": "96.8% counting accuracy."}), "Digest two.")
    assert len(model.seen) == 2 and card.cells[3].text == "96.8% counting accuracy."
    assert card.digest.startswith("Digest two. “")  # ends with the new result, quoted (`with_results`)


def test_write_cards_skips_written_cards_so_an_interrupted_run_resumes(settings):
    library = Library(settings, ScriptedModel(responses=[json.dumps(WRITTEN), "Digest."]))

    def interrupted(done: int, total: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C once the first card is written

    with pytest.raises(KeyboardInterrupt):
        library.write_cards(progress=interrupted)
    resumed = ScriptedModel(responses=[json.dumps({**WRITTEN, "tldr": "Rain nowcasting."}), "Rain digest."])
    assert Library(settings, resumed).write_cards() == 1 and len(resumed.seen) == 2
    assert Library(settings, UncallableModel()).write_cards() == 0


def test_a_digest_is_at_most_90_words_and_60_percent_of_its_abstract(settings):
    library = Library(settings, UncallableModel())
    short = library.find("p-rain")
    assert longest_digest(short, settings) == int(0.6 * len(short.abstract.split()))
    long_paper = library.find("p-drone").__class__("p-long", "Long", "word " * 400)
    assert longest_digest(long_paper, settings) == 90
    rambling = " ".join(f"SkyCount counts sheep in video number {n}." for n in range(1, 40))
    digest = Library(settings, ScriptedModel(responses=[rambling])).digest("p-rain")
    assert len(digest.digest.split()) <= longest_digest(short, settings)


def test_a_card_whose_tldr_restated_its_title_shows_the_approach_once(settings, monkeypatch):
    """Seen in `papers cards MgNO`: the TL;DR gave way to the approach, and both lines printed it."""
    restating = {**WRITTEN, "tldr": "SkyCount: counting sheep from drone video."}
    card, _ = card_of(settings, json.dumps(restating), "SkyCount counts sheep from drones with 97.2% accuracy.")
    assert card.tldr == WRITTEN["approach"]
    assert [cell.aspect for cell in card.cells_beyond_tldr] == ["Problem", "Data and setting", "Key result",
                                                                "Limitation", "Key terms"]
    monkeypatch.setenv("PAPERS_DATA_DIR", str(settings.data_dir))
    shown = CliRunner().invoke(main, ["cards", "p-drone"])
    assert shown.exit_code == 0 and shown.output.count(WRITTEN["approach"]) == 1
    assert "Approach:" not in shown.output and "TL;DR: A lightweight YOLO detector" in shown.output


def test_cards_cli_needs_papers_or_all(settings, monkeypatch):
    monkeypatch.setenv("PAPERS_DATA_DIR", str(settings.data_dir))
    for arguments in (["cards"], ["cards", "--all", "p-rain"]):
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 1 and "Name one or more papers, or pass --all" in result.output


@pytest.mark.slow
def test_cards_end_to_end_with_the_small_model(settings, small_model_path, tmp_path):
    """`papers cards --all` with SmolLM2: every card within its limits, then shown from the cache."""
    env = cli_env(**{f"PAPERS_{k.upper()}": str(v) for k, v in small_model(small_model_path).items()},
                  PAPERS_CACHE_DIR=str(tmp_path / "cache"))
    base = [str(PAPERS_CLI), "--data-dir", str(settings.data_dir)]
    written = subprocess.run([*base, "cards", "--all"], env=env, capture_output=True, text=True, timeout=900)
    assert written.returncode == 0, written.stderr
    assert "2 cards written, 0 already written" in written.stdout
    shown = subprocess.run([*base, "cards", "p-drone", "p-rain", "--json"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert shown.returncode == 0, shown.stderr
    cards = json.loads(shown.stdout)
    assert [card["id"] for card in cards] == ["p-drone", "p-rain"]
    for card in cards:
        assert 0 < len(card["tldr"].split()) <= MAX_TLDR_WORDS
        assert [cell["aspect"] for cell in card["cells"]] == [
            "Problem", "Approach", "Data and setting", "Key result", "Limitation", "Key terms"]
        assert all(len(cell["text"].split()) <= MAX_CELL_WORDS for cell in card["cells"])
        assert card["digest"] and len(card["digest"].split()) <= 90
    # Read from the cache, a card needs no model, no LangChain and no Chroma (a cached compare starts fast).
    assert not packages_imported(*base[1:], "cards", "p-drone", cwd=tmp_path, env=env) & BACKEND_PACKAGES
