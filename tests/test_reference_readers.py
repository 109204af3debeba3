"""Reference-manager readers (BibTeX, RIS, CSL-JSON, PubMed): real exports, partial and broken input, detection."""

import json
import re
from pathlib import Path

import pytest

from rag.errors import PapersError
from rag.readers import detect_format, read_papers
from rag.replies import IngestReport, Rejection

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ABSTRACT = "An abstract long enough to index, about reading reference managers' exports."

# fixture -> (format, the marker its entries with an abstract carry, papers read, skipped for no abstract)
REAL = {
    "zotero_arxiv.bib": ("bibtex", r"^\s*abstract = \{", 9, 0),
    "zotero_partial.bib": ("bibtex", r"^\s*abstract = \{", 10, 2),
    "zotero_scopus.ris": ("ris", r"^AB  - ", 3, 2),
    "pubmed.nbib": ("pubmed", r"^AB  - ", 3, 1),
    "zotero.csl.json": ("csl_json", r'^\s*"abstract": ', 4, 1),
}
# fixture -> papers with authors and with a date: every one whose entry gives them (counted by hand: two
# Zotero web pages have no author, one of them and a Zotero article have no year)
GIVEN = {"zotero_arxiv.bib": (9, 8), "zotero_partial.bib": (8, 9), "zotero_scopus.ris": (3, 3),
         "pubmed.nbib": (3, 3), "zotero.csl.json": (4, 4)}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def bib_entry(key: str, *fields: str) -> str:
    return "@article{" + key + ",\n" + "".join(f"  {field},\n" for field in fields) + "}\n\n"


# --- the real exports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_real_export_is_detected_and_every_entry_with_an_abstract_is_read(name):
    fmt, marker, papers, skipped = REAL[name]
    path = FIXTURES / name
    text = path.read_text(encoding="utf-8")
    assert detect_format(path) == fmt
    result = read_papers(path)
    assert result.format == fmt
    assert len(result.papers) == papers == len(re.findall(marker, text, re.MULTILINE))
    assert [r.kind for r in result.rejected] == ["no_abstract"] * skipped
    assert all(r.reason.startswith("no abstract: ") and r.line > 0 for r in result.rejected)


@pytest.mark.parametrize("name", REAL)
def test_real_export_titles_are_plain_text_and_authors_and_dates_parsed(name):
    papers = read_papers(FIXTURES / name).papers
    for paper in papers:
        assert not re.search(r"[{}\\]", paper.title + paper.abstract), paper.title
        assert all(author == author.strip() and "," not in author and "{" not in author for author in paper.authors)
        assert re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?|", paper.date), paper.date
    assert (sum(bool(p.authors) for p in papers), sum(bool(p.date) for p in papers)) == GIVEN[name]


def test_zotero_bibtex_ids_are_arxiv_then_doi_then_title():
    papers = {p.title: p for p in read_papers(FIXTURES / "zotero_arxiv.bib").papers}
    gan = papers["Real-Valued (Medical) Time Series Generation with Recurrent Conditional GANs"]
    assert (gan.id, gan.doi, gan.date) == ("1706.02633", "10.48550/arXiv.1706.02633", "2017-12")
    assert gan.authors == ("Cristóbal Esteban", "Stephanie L. Hyland", "Gunnar Rätsch")
    assert gan.categories == ("Computer Science - Machine Learning", "Statistics - Machine Learning")
    mapreduce = papers["MapReduce: Simplified Data Processing on Large Clusters"]
    assert (mapreduce.id, mapreduce.date) == ("10.1145/1327452.1327492", "2008-01")
    raft = papers["In Search of an Understandable Consensus Algorithm"]  # no year, DOI or eprint
    assert raft.id.startswith("t-") and raft.date == ""


def test_zotero_bibtex_tex_becomes_readable():
    papers = read_papers(FIXTURES / "zotero_arxiv.bib").papers + read_papers(FIXTURES / "zotero_partial.bib").papers
    abstracts = " ".join(p.abstract for p in papers)
    assert "up to 6× decoding throughput" in abstracts  # 6\texttimes{}
    assert "by up to 75%" in abstracts  # 75\%
    assert "scenarios—including" in abstracts  # ---
    assert "long–term team" in abstracts  # long\textendash term
    assert "tools & technologies" in abstracts  # \&
    assert "first 17 “playing days”" in abstracts  # ``playing days''
    names = {name for p in papers for name in p.authors}
    assert {"Bartosz Ćwiklinski", "Agata Giełczyk", "Michał Choraś", "Kimi Team"} <= names
    assert "Reshaping Reasoning in LLMs: A Theoretical Analysis of RL Training Dynamics through Pattern Selection" in {
        p.title for p in papers}  # {{Reasoning}} and the like lose their braces


def test_zotero_bibtex_entries_without_abstract_are_reported_by_key_and_line():
    result = read_papers(FIXTURES / "zotero_partial.bib")
    assert [(r.line, r.reason, r.kind) for r in result.rejected] == [
        (17, "no abstract: @article{armatasEVALUATIONGOALSSCORED2009}", "no_abstract"),
        (76, "no abstract: @inproceedings{bellavistaAnalysisGrowthStrategies2019}", "no_abstract"),
    ]


def test_ris_export_reads_crlf_records_and_names():
    result = read_papers(FIXTURES / "zotero_scopus.ris")
    first = result.papers[0]
    assert first.id == first.doi == "10.1007/s11468-024-02407-0"
    assert first.authors[:2] == ("R. Uma Maheshwari", "S. Kumarganesh") and first.date == "2025"
    assert first.categories[:2] == ("Biosensor", "Convolutional neural network (CNN)")
    assert first.abstract.endswith("Springer Nature 2024.")
    assert [r.line for r in result.rejected] == [92, 105]
    assert result.rejected[0].reason.startswith("no abstract: JOUR 'Exploring the Advancements")


def test_pubmed_export_joins_the_abstracts_continuation_lines():
    result = read_papers(FIXTURES / "pubmed.nbib")
    first = result.papers[0]
    assert first.title == "Resistance Mechanisms to SYK Inhibition in Acute Myeloid Leukemia."
    assert first.id == first.doi == "10.1158/2159-8290.CD-19-0209"
    assert first.authors[:2] == ("Anjali Cremer", "Jana M Ellegast") and first.date == "2020-02"
    assert "in combination with chemotherapy, likely reflecting induced" in first.abstract  # spans two lines
    assert "  " not in first.abstract and "\r" not in first.abstract
    assert result.papers[1].date == "2020-10-19"
    assert [(r.line, r.reason) for r in result.rejected] == [(510, "no abstract: PMID 32232486")]


def test_csl_json_export_reads_names_and_date_parts():
    result = read_papers(FIXTURES / "zotero.csl.json")
    first = result.papers[0]
    assert (first.id, first.title) == ("10.1186/s40168-023-01586-y", "Enterotypes of the human gut mycobiome")
    assert first.authors[:2] == ("Senying Lai", "Yan Yan") and first.date == "2023-08-11"
    assert result.papers[1].date == "2021"  # "date-parts": [["2021"]]
    assert result.rejected[0].line == 5 and result.rejected[0].kind == "no_abstract"


# --- BibTeX, built to show one thing each --------------------------------------------------------------


def test_bibtex_accents_dashes_ampersand_and_math(tmp_path):
    text = bib_entry(
        "k", r"title = {Sch{\"o}n, Caf\'e {\&} {BERT}: pages 10--20 with $x^{2}$}",
        r"author = {M{\"u}ller, J{\"o}rg and {World Health Organization} and de la Fuente, Ana}",
        f"abstract = {{{ABSTRACT} Costs $O(n^2)$ --- not more.}}", "year = {2021}", "month = {3}",
        "keywords = {parsing; TeX}",
    )
    paper = read_papers(write(tmp_path, "one.bib", text)).papers[0]
    assert paper.title == "Schön, Café & BERT: pages 10–20 with x^{2}"
    assert paper.authors == ("Jörg Müller", "World Health Organization", "Ana de la Fuente")
    assert paper.abstract.endswith("Costs O(n^2) — not more.")
    assert (paper.date, paper.categories) == ("2021-03", ("parsing", "TeX"))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["journal = {arXiv preprint arXiv:2101.00001}"], "2101.00001"),  # Google Scholar
        (["eprint = {2101.00002}", "archivePrefix = {arXiv}"], "2101.00002"),  # Zotero, JabRef
        (["eprinttype = {arxiv}", "eprint = {hep-th/9901001}"], "hep-th/9901001"),  # Better BibLaTeX
        (["url = {https://arxiv.org/abs/2101.00003v2}"], "2101.00003"),
        (["journal = {CoRR}", "volume = {abs/1811.00498}"], "1811.00498"),  # DBLP
        (["doi = {10.48550/arXiv.2101.00004}"], "2101.00004"),
        (["eprint = {12345}", "archivePrefix = {PubMed}", "doi = {https://doi.org/10.1/X}"], "10.1/X"),
    ],
)
def test_bibtex_arxiv_id_from_wherever_the_export_put_it(tmp_path, fields, expected):
    text = bib_entry("k", "title = {T}", f"abstract = {{{ABSTRACT}}}", *fields)
    assert read_papers(write(tmp_path, "refs.bib", text)).papers[0].id == expected


def test_bibtex_broken_entry_is_rejected_at_its_line_and_the_rest_read(tmp_path):
    good = [bib_entry(f"good{i}", f"title = {{Good {i}}}", f"abstract = {{{ABSTRACT}}}") for i in range(3)]
    broken = "@article{broken,\n  title = {Never closed,\n  year = 2020\n\n"
    result = read_papers(write(tmp_path, "refs.bib", good[0] + broken + good[1] + good[2]))
    assert [p.title for p in result.papers] == ["Good 0", "Good 1", "Good 2"]
    (rejection,) = result.rejected
    assert (rejection.line, rejection.kind) == (6, "unreadable")
    assert rejection.reason.startswith("broken BibTeX entry: ") and "check its braces" in rejection.reason


def test_bibtex_duplicate_key_is_rejected_naming_the_first(tmp_path):
    entry = bib_entry("same", "title = {T}", f"abstract = {{{ABSTRACT}}}")
    result = read_papers(write(tmp_path, "refs.bib", entry + entry.replace("{T}", "{U}") + entry.replace("same", "b").replace("{T}", "{V}")))
    assert [(r.line, r.reason) for r in result.rejected] == [(6, "duplicate BibTeX key 'same' (first at line 1)")]


def test_mostly_unreadable_bibtex_is_still_refused(tmp_path):
    good = bib_entry("good", "title = {Good}", f"abstract = {{{ABSTRACT}}}")
    broken = "@article{b1,\n  title = {Open\n\n@article{b2,\n  title = {Open\n\n"
    path = write(tmp_path, "refs.bib", good + broken)
    with pytest.raises(PapersError, match=r"2 of its 3 records \(67%\) were rejected when read as bibtex") as err:
        read_papers(path)
    assert str(path) in str(err.value)


def test_entries_without_abstract_do_not_make_a_file_refused(tmp_path):
    books = "".join(bib_entry(f"book{i}", f"title = {{Book {i}}}") for i in range(3))
    good = bib_entry("paper", "title = {Paper}", f"abstract = {{{ABSTRACT}}}")
    result = read_papers(write(tmp_path, "library.bib", books + good))
    assert [p.title for p in result.papers] == ["Paper"]
    assert [r.kind for r in result.rejected] == ["no_abstract"] * 3
    assert IngestReport(added=["paper"], rejected=result.rejected).summary() == (
        "1 added, 0 unchanged, 0 updated, 0 rejected, 3 skipped without an abstract")


def test_file_of_entries_without_abstract_says_so(tmp_path):
    path = write(tmp_path, "scholar.bib", bib_entry("a", "title = {A}") + bib_entry("b", "title = {B}"))
    with pytest.raises(PapersError, match="none of its 2 entries has an abstract") as err:
        read_papers(path)
    assert str(path) in str(err.value)


# --- RIS, PubMed, CSL-JSON ------------------------------------------------------------------------------


def test_ris_alternative_tags_and_unclosed_record(tmp_path):
    text = (
        "TY  - JOUR\nT1  - First title\nA1  - Lee, Ann\nY1  - 2014/05/06/\nN2  - " + ABSTRACT + "\n"
        "      continued here.\nUR  - https://arxiv.org/abs/2101.00005v1\nER  - \n\n"
        "TY  - JOUR\nTI  - Second title\nAB  - " + ABSTRACT + "\nPY  - 2020\nER  - \n\n"
        "TY  - JOUR\nTI  - Never closed\nAB  - " + ABSTRACT + "\n"
    )
    result = read_papers(write(tmp_path, "export.txt", text), keep_partial=True)
    assert result.format == "ris"
    first = result.papers[0]
    assert (first.id, first.title, first.authors, first.date) == ("2101.00005", "First title", ("Ann Lee",), "2014-05-06")
    assert first.abstract.endswith("continued here.")
    assert [(r.line, r.reason) for r in result.rejected] == [(16, "record has no 'ER  -' line (end of file)")]


def test_pubmed_malformed_line_names_the_line(tmp_path):
    text = (
        "PMID- 1\nTI  - A title.\nAB  - " + ABSTRACT + "\nAU  - Lee A\nDP  - 2019 Jan-Feb\n\n"
        "PMID- 2\nTI  - Another.\nnot a tag line\nAB  - " + ABSTRACT + "\n"
    )
    result = read_papers(write(tmp_path, "pubmed.txt", text), keep_partial=True)
    paper = result.papers[0]
    assert (paper.id, paper.authors, paper.date) == ("pmid:1", ("Lee A",), "2019-01")
    assert [(r.line, r.reason) for r in result.rejected] == [
        (7, "line 9 is neither a 'TAG - value' line nor an indented continuation: 'not a tag line'")]


def test_csl_json_is_told_from_arxiv_json_by_its_keys(tmp_path):
    csl = [{"type": "article-journal", "title": "T", "abstract": ABSTRACT,
            "author": [{"family": "Lee", "given": "Ann"}, {"literal": "The Team"}], "issued": {"date-parts": [[2020, 2]]}}]
    arxiv = [{"id": "2101.00001", "title": "T", "abstract": ABSTRACT, "authors": "Ann Lee", "categories": "cs.CL"}]
    csl_path = write(tmp_path, "csl.json", json.dumps(csl))
    assert detect_format(csl_path) == "csl_json"
    assert detect_format(write(tmp_path, "arxiv.json", json.dumps(arxiv, indent=2))) == "arxiv_json"
    assert detect_format(write(tmp_path, "wrapped.json", json.dumps({"items": csl}))) == "csl_json"
    paper = read_papers(csl_path).papers[0]
    assert (paper.authors, paper.date, paper.id[:2]) == (("Ann Lee", "The Team"), "2020-02", "t-")


def test_broken_csl_json_names_the_file_and_place(tmp_path):
    path = write(tmp_path, "broken.json", '[{"type": "book", "title": "x",')
    with pytest.raises(PapersError, match="invalid JSON at line 1") as err:
        read_papers(path, format="csl")
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("alias", "expected"), [("bib", "bibtex"), ("RIS", "ris"), ("csl", "csl_json"),
                                                 ("nbib", "pubmed"), ("medline", "pubmed")])
def test_format_aliases_force_the_new_readers(alias, expected):
    name = next(name for name, spec in REAL.items() if spec[0] == expected)
    assert read_papers(FIXTURES / name, format=alias).format == expected


def test_rejection_kind_defaults_to_unreadable_in_json():
    assert Rejection(file="a", line=1, reason="r").model_dump() == {"file": "a", "line": 1, "reason": "r",
                                                                    "kind": "unreadable"}
