"""Saved HTML pages: arXiv listing pages (arxiv_html), a real saved page, the same page with abstracts
as the /new listing shows them, a cut-off page, and HTML that is not an arXiv listing; a real saved
arXiv search results page (arxiv_search) and a real saved Hugging Face Papers daily page (hf_html),
each read whole, with an entry's abstract taken away, cut off and empty."""

import html
import json
from pathlib import Path

import pytest

from rag.errors import PapersError
from rag.readers import detect_format, read_papers

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LISTING = (FIXTURES / "arxiv_listing_titles.html").read_text(encoding="utf-8")
IDS = ["2301.00001", "2301.00002", "2301.00003"]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_abstracts(text: str, ids: list[str]) -> str:
    """The page with an abstract paragraph where the /new listing puts it: the last line of the entry's
    `<div class='meta'>`, as `<p class='mathjax'>`."""
    for number in ids:
        start = text.index(f'<a href="/abs/{number}"')
        end = text.index("</dd>", start)
        meta_end = text.rindex("</div>", start, end)
        paragraph = f"<p class='mathjax'>The abstract of {number}, with $x_i$ and <i>markup</i>.</p>\n"
        text = text[:meta_end] + paragraph + text[meta_end:]
    return text


def line_of(text: str, needle: str) -> int:
    return text.count("\n", 0, text.index(needle)) + 1


def test_real_saved_listing_is_detected_by_content_whatever_its_name(tmp_path):
    assert detect_format(FIXTURES / "arxiv_listing_titles.html") == "arxiv_html"
    assert detect_format(write(tmp_path, "listing.txt", LISTING)) == "arxiv_html"


def test_a_listing_without_abstracts_is_refused_saying_which_page_shows_them():
    with pytest.raises(PapersError) as error:
        read_papers(FIXTURES / "arxiv_listing_titles.html")
    message = str(error.value)
    assert "arxiv_listing_titles.html" in message
    assert "none of the 3 papers on this arXiv page shows its abstract" in message
    assert "/new listing" in message


def test_every_entry_is_read_with_its_id_title_authors_and_subjects(tmp_path):
    result = read_papers(write(tmp_path, "new.html", with_abstracts(LISTING, IDS)))
    assert result.format == "arxiv_html" and result.rejected == []
    assert [paper.id for paper in result.papers] == IDS
    by_id = {paper.id: paper for paper in result.papers}
    assert by_id["2301.00001"].title == "NFTrig"
    assert by_id["2301.00001"].authors == ("Jordan Thompson", "Ryan Benac", "Kidus Olana", "Talha Hassan",
                                           "Andrew Sward", "Tauheed Khan Mohd")  # names wrapped over lines
    assert by_id["2301.00002"].title == ("Evaluating Alternative Glyph Design for Showing "
                                         "Large-Magnitude-Range Quantum Spins")
    assert by_id["2301.00002"].categories == ("cs.HC", "cs.GR", "quant-ph")
    assert by_id["2301.00003"].title == ("Emotion in Cognitive Architecture: Emergent Properties from "
                                         "Interactions with Human Emotion")
    assert by_id["2301.00003"].authors == ("Junya Morita",)
    assert by_id["2301.00003"].abstract.startswith("The abstract of 2301.00003, with")
    for paper in result.papers:
        assert "Title:" not in paper.title and "\n" not in paper.title + paper.abstract
        assert paper.source_file == "new.html"


def test_entries_without_an_abstract_are_skipped_by_id_and_line(tmp_path):
    text = with_abstracts(LISTING, ["2301.00002"])
    result = read_papers(write(tmp_path, "mixed.html", text))
    assert [paper.id for paper in result.papers] == ["2301.00002"]
    assert [(r.kind, r.line, r.reason) for r in result.rejected] == [
        ("no_abstract", line_of(text, "<dt>") , "no abstract: entry '2301.00001'"),
        ("no_abstract", line_of(text, "<a name='item3'>") - 1, "no abstract: entry '2301.00003'"),
    ]


def test_forced_format_name_and_its_alias(tmp_path):
    path = write(tmp_path, "new.html", with_abstracts(LISTING, IDS))
    assert len(read_papers(path, format="arxiv_html").papers) == 3
    assert len(read_papers(path, format="arxiv-listing").papers) == 3


def test_a_page_cut_off_inside_the_listing_is_refused(tmp_path):
    cut = LISTING[: LISTING.index("<dd>")]  # saved before the first entry's title arrived
    with pytest.raises(PapersError) as error:
        read_papers(write(tmp_path, "cut.html", cut))
    assert "cut.html" in str(error.value) and "without its <dd>" in str(error.value)


def test_an_empty_listing_says_it_lists_no_papers(tmp_path):
    start, end = LISTING.index("<dt>"), LISTING.rindex("</dd>") + len("</dd>")
    empty = LISTING[:start] + "<p>No updates for this time period.</p>" + LISTING[end:]
    with pytest.raises(PapersError, match=r"empty\.html: an arXiv listing page, but it lists no papers"):
        read_papers(write(tmp_path, "empty.html", empty))


def test_html_that_is_not_an_arxiv_listing_cannot_be_told(tmp_path):
    page = ("<!DOCTYPE html>\n<html><head><title>Recipes</title></head>\n<body><h1>Bread</h1>\n"
            "<dl><dt>Flour</dt><dd>500 g</dd></dl>\n</body></html>\n")
    with pytest.raises(PapersError, match="cannot tell what kind of papers file"):
        read_papers(write(tmp_path, "recipes.html", page))


# --- a saved arXiv search results page (arxiv_search) ----------------------------------------------

SEARCH = (FIXTURES / "arxiv_search.html").read_text(encoding="utf-8")
SEARCH_IDS = ["2512.03003", "2512.02749", "2512.02894", "2512.07321"]


def result_lines(text: str) -> list[int]:
    return [text.count("\n", 0, at) + 1 for at in range(len(text)) if text.startswith('<li class="arxiv-result">', at)]


def without_abstract(text: str, number: str) -> str:
    """The page as 'Hide abstracts' saves result `number`: without its `<p class="abstract mathjax">`."""
    start = text.index('<p class="abstract mathjax">', text.index(f'<a href="https://arxiv.org/abs/{number}">'))
    end = text.index("</p>", start) + len("</p>")
    return text[:start] + text[end:]


def test_real_saved_search_page_is_detected_by_content_whatever_its_name(tmp_path):
    assert detect_format(FIXTURES / "arxiv_search.html") == "arxiv_search"
    assert detect_format(write(tmp_path, "search.txt", SEARCH)) == "arxiv_search"


def test_every_search_result_is_read_with_its_id_title_authors_date_subjects_and_doi():
    result = read_papers(FIXTURES / "arxiv_search.html")
    assert result.format == "arxiv_search" and result.rejected == []
    assert [paper.id for paper in result.papers] == SEARCH_IDS
    by_id = {paper.id: paper for paper in result.papers}
    first = by_id["2512.03003"]
    assert first.title == "The role of the top Yukawa coupling in triple Higgs production at the LHC"
    assert first.authors == ("Luca Panizzi",) and first.date == "2025-12-02" and first.categories == ("hep-ph",)
    assert first.abstract.startswith("In this letter I quantify the effects of varying the top Yukawa coupling")
    assert first.abstract.endswith("the three-Higgs system and other global observables.")  # the full one, no 'Less'
    # a search hit ends in punctuation: the highlight's text is joined without a space added
    assert "qubit, qutrit, and ququad systems." in by_id["2512.02749"].abstract
    assert "in d-electron systems," in by_id["2512.02894"].abstract
    assert by_id["2512.02894"].doi == "10.1016/j.physb.2025.417533"
    assert by_id["2512.02894"].categories == ("cond-mat.mtrl-sci", "cond-mat.supr-con")
    revised = by_id["2512.07321"]  # "Submitted 11 December, 2025; v1 submitted 8 December, 2025"
    assert revised.date == "2025-12-08" and len(revised.authors) == 11
    assert revised.title == ("Towards probing velocity distributions in dense granular matter: Utilizing Fiber "
                             "Bragg Gratings")
    for paper in result.papers:
        assert not {"More", "Less", "△", "▽", "…"} & set(paper.abstract.split()) and "\n" not in paper.abstract
        assert paper.source_file == "arxiv_search.html"


def test_a_search_result_without_its_abstract_is_skipped_by_id_and_line(tmp_path):
    text = without_abstract(SEARCH, "2512.02749")
    result = read_papers(write(tmp_path, "search.html", text))
    assert [paper.id for paper in result.papers] == ["2512.03003", "2512.02894", "2512.07321"]
    assert [(r.kind, r.line, r.reason) for r in result.rejected] == [
        ("no_abstract", result_lines(text)[1], "no abstract: result '2512.02749'"),
    ]


def test_a_search_page_saved_with_hidden_abstracts_is_refused_saying_how_to_show_them(tmp_path):
    text = SEARCH
    for number in SEARCH_IDS:
        text = without_abstract(text, number)
    with pytest.raises(PapersError) as error:
        read_papers(write(tmp_path, "hidden.html", text))
    message = str(error.value)
    assert "hidden.html" in message and "none of the 4 results on this arXiv search page" in message
    assert "Show abstracts" in message


def test_a_search_page_cut_off_inside_a_result_is_refused_naming_the_file(tmp_path):
    cut = SEARCH[: SEARCH.index('<p class="title is-5 mathjax">')]  # saved before the first title arrived
    with pytest.raises(PapersError) as error:
        read_papers(write(tmp_path, "cut.html", cut))
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'cut.html'}: none of its 1 records is a valid paper (read as arxiv_search)")
    assert "result 2512.03003 without its title: the page is cut off" in message


def test_a_search_page_without_results_says_it_shows_none(tmp_path):
    start, end = SEARCH.index('<li class="arxiv-result">'), SEARCH.index("</ol>")
    with pytest.raises(PapersError, match=r"none\.html: an arXiv search page, but it shows no results"):
        read_papers(write(tmp_path, "none.html", SEARCH[:start] + SEARCH[end:]))


def test_search_format_forced_by_name_and_alias(tmp_path):
    path = write(tmp_path, "page.html", SEARCH)
    assert len(read_papers(path, format="arxiv_search").papers) == 4
    assert len(read_papers(path, format="arxiv-search-html").papers) == 4


# --- a saved Hugging Face Papers daily page (hf_html) ----------------------------------------------

HF = (FIXTURES / "hf_daily_papers.html").read_text(encoding="utf-8")
HF_IDS = ["2407.21705", "2407.21770", "2407.21646", "2407.20229"]


def with_props(text: str, change) -> str:
    """The page with the DailyPapers block's `data-props` JSON passed through `change`, escaped back."""
    start = text.index('data-props="', text.index('data-target="DailyPapers"')) + len('data-props="')
    end = text.index('"', start)
    props = change(json.loads(html.unescape(text[start:end])))
    return text[:start] + html.escape(json.dumps(props), quote=True) + text[end:]


def test_real_saved_hf_daily_page_is_detected_by_content_whatever_its_name(tmp_path):
    assert detect_format(FIXTURES / "hf_daily_papers.html") == "hf_html"
    assert detect_format(write(tmp_path, "papers.txt", HF)) == "hf_html"


def test_every_hf_paper_is_read_from_the_page_data_at_its_card_line():
    result = read_papers(FIXTURES / "hf_daily_papers.html")
    assert result.format == "hf_html" and result.rejected == []
    assert [paper.id for paper in result.papers] == HF_IDS
    by_id = {paper.id: paper for paper in result.papers}
    tora = by_id["2407.21705"]
    assert tora.title == "Tora: Trajectory-oriented Diffusion Transformer for Video Generation"
    assert tora.authors == ("Zhenghao Zhang", "Junchao Liao", "Menghao Li", "Long Qin", "Weizhi Wang")
    assert tora.date == "2024-07-31"
    assert tora.abstract.startswith("Recent advancements in Diffusion Transformer (DiT) have demonstrated")
    assert tora.abstract.endswith("Page can be found at https://ali-videoai.github.io/tora_video.")
    assert by_id["2407.21646"].abstract.startswith("In this paper, we present Cross Language Agent -- Simultaneous")
    assert by_id["2407.20229"].title == "Improving 2D Feature Representations by 3D-Aware Fine-Tuning"
    assert by_id["2407.20229"].date == "2024-07-29" and len(by_id["2407.21770"].authors) == 8
    for paper in result.papers:
        assert "\n" not in paper.abstract and len(paper.abstract) > 900
        assert paper.source_file == "hf_daily_papers.html"


def test_an_hf_paper_without_a_summary_is_skipped_by_id_and_card_line(tmp_path):
    def drop_summary(props):
        del props["dailyPapers"][1]["paper"]["summary"]
        return props
    text = with_props(HF, drop_summary)
    result = read_papers(write(tmp_path, "day.html", text))
    assert [paper.id for paper in result.papers] == ["2407.21705", "2407.21646", "2407.20229"]
    assert [(r.kind, r.line, r.reason) for r in result.rejected] == [
        ("no_abstract", line_of(text, '<a href="/papers/2407.21770"'), "no abstract: paper '2407.21770'"),
    ]


def test_an_hf_page_cut_off_inside_its_paper_data_is_refused_naming_the_file(tmp_path):
    cut = HF[: HF.index("MoMa")]  # the download stopped inside the data-props attribute
    with pytest.raises(PapersError) as error:
        read_papers(write(tmp_path, "cut.html", cut))
    assert str(error.value).startswith(f"{tmp_path / 'cut.html'}: a Hugging Face Papers page, but its DailyPapers")
    assert "missing or cut off" in str(error.value) and "Save the page again" in str(error.value)


def test_an_hf_page_whose_paper_data_is_not_json_is_refused_naming_the_file_and_line(tmp_path):
    start = HF.index('data-props="', HF.index('data-target="DailyPapers"')) + len('data-props="')
    broken = HF[:start] + "{&quot;dailyPapers&quot;:[{&quot;paper" + HF[HF.index('"', start):]
    with pytest.raises(PapersError) as error:
        read_papers(write(tmp_path, "broken.html", broken))
    message, line = str(error.value), line_of(HF, 'data-target="DailyPapers"')
    assert message.startswith(f"{tmp_path / 'broken.html'}, line {line}: ")
    assert "is not valid JSON" in message


def test_an_hf_page_without_papers_says_it_lists_none(tmp_path):
    empty = with_props(HF, lambda props: {**props, "dailyPapers": []})
    with pytest.raises(PapersError, match=r"empty\.html: a Hugging Face Papers page, but it lists no papers"):
        read_papers(write(tmp_path, "empty.html", empty))


def test_hf_format_forced_by_name_and_alias_and_the_copied_text_reader_unchanged(tmp_path):
    path = write(tmp_path, "page.html", HF)
    assert len(read_papers(path, format="hf_html").papers) == 4
    assert len(read_papers(path, format="hf-daily").papers) == 4
    copied = "Tora: Trajectory-oriented Diffusion Transformer\n\n" + "An abstract that runs on. " * 20 + "\n"
    assert detect_format(write(tmp_path, "copied.txt", copied)) == "hf_page"
