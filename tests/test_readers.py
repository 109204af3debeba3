"""Readers: real shared files, malformed input built in tmp_path, user errors, normalisation."""

import gzip
import json
from pathlib import Path

import pytest

from rag.errors import PapersError
from rag.paper import Paper
from rag.readers import FORMATS, detect_format, read_papers
from rag.readers.normalise import normalise_text, parse_date

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data folder {SHARED} is missing")

HF_PAGE = SHARED / "hf_papers_page" / "papers.txt"
XFORCE_JSONL = SHARED / "arxiv_sample" / "xforce_arxiv.jsonl"
XFORCE_CSV = SHARED / "arxiv_sample" / "xforce_arxiv.csv"
JUMINSUH_CSV = SHARED / "arxiv_sample" / "juminsuh_arxiv_papers.csv"
SCIFACT = SHARED / "scifact" / "corpus.jsonl.gz"

LONG = "This abstract is long enough to be a paragraph rather than a title line. " * 5


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def record(**fields) -> str:
    return json.dumps({"title": "A title", "abstract": LONG, **fields})


# --- real shared files ------------------------------------------------------------------------------


@needs_shared
def test_hf_page_yields_87_papers_without_header_lines():
    result = read_papers(HF_PAGE)
    assert result.format == "hf_page"
    assert len(result.papers) == 87
    assert result.rejected == []
    assert result.papers[0].title == "Agents Play Thousands of 3D Video Games"
    assert result.papers[0].abstract.startswith("We present PORTAL")
    titles = {p.title for p in result.papers}
    assert not titles & {"new", "Get trending papers in your email inbox!", "Subscribe",
                         "byAK and the research community", "Apr 1"}
    assert all(p.id.startswith("t-") and p.date == "" and p.source_file == "papers.txt" for p in result.papers)


@needs_shared
def test_hf_page_leftover_latex_becomes_readable():
    abstracts = " ".join(p.abstract for p in read_papers(HF_PAGE).papers)
    assert "3.72~4.11× inference speedup" in abstracts
    assert "between 1.12× and 20.21× faster" in abstracts
    assert "100% success rate" in abstracts
    assert '("go to location in <this picture>")' in abstracts  # not mistaken for an HTML tag


@needs_shared
def test_xforce_jsonl_reads_1000_papers_and_rejects_10_duplicates():
    result = read_papers(XFORCE_JSONL)
    assert result.format == "arxiv_jsonl"
    assert (len(result.papers), len(result.rejected)) == (1000, 10)
    first = result.papers[0]
    assert first.id == "2306.07966"
    assert first.authors == ("Jai Prakash", "Vinod Chandra", "Santosh K. Das")
    assert first.categories == ("hep-ph", "nucl-th")
    assert first.date == "2023-06-13"
    assert result.rejected[0].line == 11
    assert result.rejected[0].reason == "duplicate id '2306.07966' (first at line 1)"


@needs_shared
def test_xforce_csv_matches_its_jsonl_twin():
    from_csv = read_papers(XFORCE_CSV)
    assert from_csv.format == "csv"
    assert (len(from_csv.papers), len(from_csv.rejected)) == (1000, 10)
    from_jsonl = read_papers(XFORCE_JSONL)
    # ids come from the arXiv url column; authors and tags from Python-repr lists of dicts
    assert [p.content_hash for p in from_csv.papers] == [p.content_hash for p in from_jsonl.papers]
    assert [p.id for p in from_csv.papers] == [p.id for p in from_jsonl.papers]


@needs_shared
def test_juminsuh_csv_with_bom():
    result = read_papers(JUMINSUH_CSV)
    assert (len(result.papers), len(result.rejected)) == (1792, 8)
    first = result.papers[0]
    assert (first.id, first.date) == ("2204.08828v1", "2022")
    assert first.title.startswith("Detect-and-describe")
    assert all("duplicate id" in r.reason for r in result.rejected)


@needs_shared
def test_scifact_gzipped_beir_corpus():
    result = read_papers(SCIFACT)
    assert result.format == "beir"
    assert (len(result.papers), len(result.rejected)) == (5183, 0)
    assert result.papers[0].id == "4983"
    assert result.papers[0].title.startswith("Microstructural development of human newborn")


# --- malformed records become rejections, the rest is read ------------------------------------------


def test_jsonl_bad_line_and_missing_abstract_are_rejected(tmp_path):
    lines = [
        record(id="1"),
        '{"id": "2", "title": broken',
        json.dumps({"id": "3", "title": "No abstract here"}),
        "[1, 2]",
        "",
        record(id="5", authors="Ann Lee, Bo Chen and Cy Diaz", categories="cs.CL cs.AI"),
    ]
    path = write(tmp_path, "papers.jsonl", "\n".join(lines))
    with pytest.raises(PapersError, match=r"3 of its 5 records \(60%\) were rejected when read as arxiv_jsonl"):
        read_papers(path)
    result = read_papers(path, keep_partial=True)
    assert [p.id for p in result.papers] == ["1", "5"]
    assert result.papers[1].authors == ("Ann Lee", "Bo Chen", "Cy Diaz")
    assert result.papers[1].categories == ("cs.CL", "cs.AI")
    reasons = {r.line: r.reason for r in result.rejected}
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "missing or empty abstract"
    assert reasons[4] == "expected a JSON object, got list"
    assert all(r.file == "papers.jsonl" for r in result.rejected)


def test_json_array_and_object_with_papers_key(tmp_path):
    records = [json.loads(record(id="a")), {"id": "b", "title": "", "abstract": LONG}]
    result = read_papers(write(tmp_path, "list.json", json.dumps(records, indent=2)))
    assert result.format == "arxiv_json"
    assert [p.id for p in result.papers] == ["a"]
    assert (result.rejected[0].line, result.rejected[0].reason) == (2, "missing or empty title")
    wrapped = write(tmp_path, "wrapped.json", json.dumps({"papers": records}, indent=2))
    assert [p.id for p in read_papers(wrapped).papers] == ["a"]


def test_arxiv_versions_and_author_dicts(tmp_path):
    line = record(id="0704.0001", authors=[{"name": "C. Balázs"}, {"name": "E. L. Berger"}],
                  versions=[{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}],
                  update_date="2008-11-13")
    paper = read_papers(write(tmp_path, "snap.jsonl", line)).papers[0]
    assert paper.authors == ("C. Balázs", "E. L. Berger")
    assert paper.date == "2007-04-02"


def test_duplicate_ids_keep_the_first(tmp_path):
    lines = [record(id="x", title="First"), record(id="y"), record(id="x", title="Second")]
    result = read_papers(write(tmp_path, "dups.jsonl", "\n".join(lines)))
    assert [p.title for p in result.papers] == ["First", "A title"]
    assert (result.rejected[0].line, result.rejected[0].reason) == (3, "duplicate id 'x' (first at line 1)")


def test_csv_empty_title_rejected_with_record_start_line(tmp_path):
    text = (
        "Title,Summary,arxiv_id,Year\n"
        'Good one,"An abstract\nthat spans\nthree lines",1111.0001,2021\n'
        ',"Abstract without a title",1111.0002,2021\n'
        'Good two,"Another abstract",1111.0003,2022\n'
    )
    result = read_papers(write(tmp_path, "papers.csv", text))
    assert [(p.id, p.abstract, p.date) for p in result.papers] == [
        ("1111.0001", "An abstract that spans three lines", "2021"),
        ("1111.0003", "Another abstract", "2022"),
    ]
    assert [(r.line, r.reason) for r in result.rejected] == [(5, "missing or empty title")]


def test_csv_detected_by_header_without_extension(tmp_path):
    path = write(tmp_path, "export.txt", "paper_id\ttitle\tabstract\np1\tA title\tSome abstract\n")
    assert detect_format(path) == "csv"
    assert read_papers(path).papers[0].id == "p1"


def test_hf_page_dangling_title_and_orphan_paragraph(tmp_path):
    text = "\n\n".join([
        "new", "Subscribe", "Apr 1",
        "First Title", LONG,
        LONG,  # a second long paragraph: no title before it (line 11)
        "Second Title", LONG,
        "Dangling Title",  # nothing after it (line 17)
    ])
    result = read_papers(write(tmp_path, "page.txt", text))
    assert [p.title for p in result.papers] == ["First Title", "Second Title"]
    assert [r.line for r in result.rejected] == [11, 17]
    assert "no title line before it" in result.rejected[0].reason
    assert "'Dangling Title' has no abstract after it" in result.rejected[1].reason


def test_beir_empty_title_uses_first_sentence_and_empty_text_is_rejected(tmp_path):
    lines = [
        json.dumps({"_id": "d1", "title": "", "text": "Short first sentence. Then more text."}),
        json.dumps({"_id": "d2", "title": "Has title", "text": "", "metadata": {}}),
    ]
    path = tmp_path / "corpus.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    result = read_papers(path)
    assert result.format == "beir"
    assert result.papers[0].title == "Short first sentence."
    assert [(r.line, r.reason) for r in result.rejected] == [(2, "missing or empty abstract")]


# --- format detection and --format ------------------------------------------------------------------


def test_format_forcing_and_aliases(tmp_path):
    path = write(tmp_path, "one.jsonl", record(id="1"))
    assert read_papers(path, format="jsonl").format == "arxiv_jsonl"
    assert read_papers(path, format="JSON").format == "arxiv_json"
    with pytest.raises(PapersError, match="none of its 1 records is a valid paper.*--format"):
        read_papers(path, format="beir")


def test_detects_beir_by_fields_not_extension(tmp_path):
    path = write(tmp_path, "data.txt", json.dumps({"_id": "1", "title": "T", "text": "Body."}) + "\n")
    assert detect_format(path) == "beir"


def test_unknown_format_name_lists_choices(tmp_path):
    path = write(tmp_path, "x.jsonl", record())
    with pytest.raises(PapersError) as err:
        read_papers(path, format="xml")
    message = str(err.value)
    assert "'xml'" in message and all(name in message for name in FORMATS)


# --- errors a user can cause ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.txt", b"", "is empty"),
        ("blank.jsonl", b"\n  \n", "is empty"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
        ("latin1.txt", "Caf\xe9 papers".encode("latin-1"), "not UTF-8"),
        ("notes.txt", b"just a note\nnothing more", "cannot tell what kind of papers file"),
        ("broken.json", b'[{"title": "x",', "invalid JSON at line 1"),
    ],
)
def test_bad_files_raise_papers_error_naming_the_file(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PapersError, match=expected) as err:
        read_papers(path)
    assert str(path) in str(err.value)


def test_unrecognisable_text_suggests_format_option(tmp_path):
    with pytest.raises(PapersError, match="--format") as err:
        detect_format(write(tmp_path, "notes.txt", "hello\nworld"))
    assert all(name in str(err.value) for name in FORMATS)  # the list comes from the registry


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(PapersError, match="no such file"):
        read_papers(tmp_path / "nope.jsonl")
    with pytest.raises(PapersError, match="this folder holds no files"):
        read_papers(tmp_path)  # a directory is read as a folder of papers files (tests/test_folder_readers.py)


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, "secret.jsonl", record())

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(PapersError, match="permission denied"):
        read_papers(path)


def test_csv_without_abstract_column_names_the_columns(tmp_path):
    path = write(tmp_path, "papers.csv", "title,year\nA title,2020\n")
    with pytest.raises(PapersError) as err:
        read_papers(path)
    message = str(err.value)
    assert "abstract column" in message and "title, year" in message and str(path) in message


def test_all_records_invalid_lists_the_first_reasons(tmp_path):
    lines = ['{"title": "no abstract"}', "not json", '{"abstract": "no title"}']
    with pytest.raises(PapersError) as err:
        read_papers(write(tmp_path, "bad.jsonl", "\n".join(lines)))
    message = str(err.value)
    assert "line 1: missing or empty abstract" in message
    assert "line 2: invalid JSON" in message
    assert "line 3: missing or empty title" in message


# --- ids, hashes, normalisation -----------------------------------------------------------------------


def test_title_ids_are_stable_and_ignore_case_and_punctuation(tmp_path):
    first = read_papers(write(tmp_path, "a.txt", f"Deep Nets: A Survey\n\n{LONG}")).papers[0]
    again = read_papers(write(tmp_path, "b.txt", f"deep nets   a survey!\n\n{LONG}")).papers[0]
    other = read_papers(write(tmp_path, "c.txt", f"Shallow Nets\n\n{LONG}")).papers[0]
    assert first.id == again.id and first.id.startswith("t-") and len(first.id) == 18
    assert other.id != first.id


def test_source_id_used_when_present(tmp_path):
    path = write(tmp_path, "p.jsonl", record(id=2306.07966) + "\n" + record(title="Other"))
    papers = read_papers(path).papers
    assert papers[0].id == "2306.07966"
    assert papers[1].id.startswith("t-")


def test_content_hash_ignores_source():
    paper = Paper(id="1", title="T", abstract="A", authors=("X",), source_file="a.txt")
    moved = Paper(id="1", title="T", abstract="A", authors=("X",), source_file="b.csv")
    assert paper.content_hash == moved.content_hash
    assert paper.content_hash != Paper(id="1", title="T", abstract="B", authors=("X",)).content_hash
    assert len(paper.content_hash) == 64


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  many\n\tspaces \u00a0 here  ", "many spaces here"),
        ("Cafe\u0301", "Café"),
        (r"a speedup of $\sim$3$\times$", "a speedup of ~3×"),
        (r"\textbf{bold} and \emph{nested \textit{it}} and {\emph old}", "bold and nested it and old"),
        (r"$\alpha$-helix with $T \leq 10^{5}$", "α-helix with T ≤ 10^{5}"),
        (r"100\% of $M_\odot$ \tool", "100% of M_⊙ \\tool"),
        ("<p>H<sub>2</sub>O &amp; CO<sub>2</sub></p>", "H2O & CO2"),
        ("TGF-&bgr; and &Dgr;age", "TGF-β and Δage"),
        ("3.72sim4.11times faster, 10 times more", "3.72~4.11× faster, 10 times more"),
        ("10\\\nmicrons at 5\\,K", "10 microns at 5 K"),
    ],
)
def test_normalise_text(raw, expected):
    assert normalise_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-05-01", "2023-05-01"),
        ("2023-05-01T12:00:00Z", "2023-05-01"),
        ("Mon, 1 May 2023 10:00:00 GMT", "2023-05-01"),
        ("2023-05", "2023-05"),
        ("2023", "2023"),
        (2021, "2021"),
        ("1 May 2023", "2023-05-01"),
        ("2023-13-01", ""),
        ("soon", ""),
        (None, ""),
    ],
)
def test_parse_date(raw, expected):
    assert parse_date(raw) == expected
