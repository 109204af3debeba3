"""The arXiv API Atom reader: a real saved reply, partial and broken replies, and detection."""

import re
from pathlib import Path

import pytest

from rag.errors import PapersError
from rag.readers import detect_format, read_papers

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPLY = (FIXTURES / "arxiv_api.xml").read_text(encoding="utf-8")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def without_summary(text: str, arxiv_id: str) -> str:
    """The reply with the summary of the entry `arxiv_id` taken out."""
    entry = re.search(rf"  <entry>\n    <id>http://arxiv.org/abs/{re.escape(arxiv_id)}v\d</id>.*?</entry>\n", text, re.S)
    return text.replace(entry.group(0), re.sub(r"<summary>.*?</summary>\n\s*", "", entry.group(0), flags=re.S))


def test_real_reply_is_detected_and_every_entry_read_with_its_fields():
    path = FIXTURES / "arxiv_api.xml"
    assert detect_format(path) == "arxiv_atom"
    result = read_papers(path)
    assert result.format == "arxiv_atom" and result.rejected == []
    assert len(result.papers) == REPLY.count("<entry>") == 4
    by_id = {paper.id: paper for paper in result.papers}
    assert list(by_id) == ["1501.05039", "1503.01162", "quant-ph/0210005", "physics/0507092"]  # no version
    report = by_id["1503.01162"]
    assert report.title == ("Report on a Boston University Conference December 7-8, 2012 on 'How Can the "
                            "History and Philosophy of Science Contribute to Contemporary U.S. Science Teaching?'")
    assert report.abstract.startswith("This is an editorial report on the outcomes of an international conference")
    assert report.abstract.endswith("history/social studies, and science classrooms.")
    assert report.authors == ("Peter Garik", "Yann Benétreau-Dupin")
    assert report.date == "2015-03-03"
    assert report.doi == "10.1007/s11191-014-9716-8"
    assert report.categories == ("physics.ed-ph", "physics.hist-ph", "physics.soc-ph")
    assert by_id["1501.05039"].doi == "" and by_id["1501.05039"].categories == ("cs.DB", "cs.CY")
    assert by_id["physics/0507092"].authors == ("G. Giacomelli", "R. Giacomelli")  # affiliations left out
    assert by_id["physics/0507092"].doi == "10.1142/9789812701893_0020"
    for paper in result.papers:
        assert "\n" not in paper.title + paper.abstract and paper.abstract == paper.abstract.strip()
        assert paper.source_file == "arxiv_api.xml"


def test_an_entry_without_a_summary_is_skipped_by_id_and_line(tmp_path):
    path = write(tmp_path, "reply.xml", without_summary(REPLY, "quant-ph/0210005"))
    result = read_papers(path)
    assert [p.id for p in result.papers] == ["1501.05039", "1503.01162", "physics/0507092"]
    [skipped] = result.rejected
    line = path.read_text(encoding="utf-8").split("\n").index("  <entry>", 60) + 1
    assert (skipped.kind, skipped.line, skipped.reason) == ("no_abstract", line, "no abstract: entry 'quant-ph/0210005'")


def test_a_reply_without_any_summary_says_so(tmp_path):
    text = re.sub(r"<summary>.*?</summary>", "", REPLY, flags=re.S)
    with pytest.raises(PapersError, match=r"reply\.xml: none of its 4 entries has an abstract \(read as arxiv_atom\)"):
        read_papers(write(tmp_path, "reply.xml", text))


@pytest.mark.parametrize("damage, where", [
    (lambda text: text[:3000], "line 49, column 1: no element found"),  # saved before the reply ended
    (lambda text: text.replace("</title>", "</titl>", 2), "line 4, column 105: mismatched tag"),
])
def test_broken_xml_is_an_error_naming_the_file_and_line(tmp_path, damage, where):
    path = write(tmp_path, "reply.xml", damage(REPLY))
    assert detect_format(path) == "arxiv_atom"
    with pytest.raises(PapersError) as caught:
        read_papers(path)
    assert str(caught.value).startswith(f"{path}: broken XML at {where}. ")
    assert "save it again" in str(caught.value)


def test_the_api_error_reply_is_refused_with_the_apis_message(tmp_path):
    error = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3D%26id_list%3D1234%26start%3D0%26max_results%3D10" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=&amp;id_list=1234&amp;start=0&amp;max_results=10</title>
  <id>http://arxiv.org/api/Eh0fT0ZYhjnWhTaXn+Un6Zcsbkg</id>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>
    <title>Error</title>
    <summary>incorrect id format for 1234</summary>
  </entry>
</feed>
"""
    with pytest.raises(PapersError, match="line 6: the arXiv API answered with an error: incorrect id format for 1234"):
        read_papers(write(tmp_path, "reply.xml", error))


def test_an_atom_feed_not_from_arxiv_is_not_taken_for_one_and_the_format_can_be_forced(tmp_path):
    blog = REPLY.replace("arxiv.org/", "example.org/")
    path = write(tmp_path, "blog.xml", blog)
    with pytest.raises(PapersError, match="cannot tell what kind of papers file"):
        detect_format(path)
    result = read_papers(path, "atom")
    assert result.format == "arxiv_atom" and len(result.papers) == 4
    assert result.papers[1].id == "10.1007/s11191-014-9716-8"  # no arXiv id: the DOI
