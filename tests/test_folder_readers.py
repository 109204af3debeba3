"""A folder of papers files: every supported file under it read, the rest reported by name and skipped."""

import shutil
from pathlib import Path

import pytest

from rag.errors import PapersError
from rag.readers import read_papers
from rag.replies import IngestReport

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
# the real exports put in the folder -> (papers read, entries skipped without an abstract)
MIXED = {"zotero_arxiv.bib": (9, 0), "storage/ABC123/zotero_scopus.ris": (3, 2),
         "storage/DEF456/pubmed.nbib": (3, 1), "zotero.csl.json": (4, 1)}


def mixed_folder(root: Path) -> Path:
    """A Zotero-like folder: real exports in subfolders, an image, a note, and hidden files."""
    folder = root / "zotero"
    for place in MIXED:
        (folder / place).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / Path(place).name, folder / place)
    (folder / "storage/ABC123/figure.png").write_bytes(PNG)
    (folder / "notes.txt").write_text("to read next week\n", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / ".git").mkdir()
    (folder / ".git/broken.bib").write_text("@article{x,\n title = {unclosed\n", encoding="utf-8")
    return folder


def test_every_supported_file_under_a_folder_is_read_and_the_rest_named_as_unsupported(tmp_path):
    folder = mixed_folder(tmp_path)
    result = read_papers(folder)
    assert result.format == "folder"
    assert len(result.papers) == sum(papers for papers, _ in MIXED.values()) == 19
    assert {p.source_file for p in result.papers} == {Path(place).name for place in MIXED}
    unsupported = [(r.file, r.line, r.reason) for r in result.rejected if r.kind == "unsupported"]
    assert unsupported == [
        ("notes.txt", 0, "not a supported papers file (cannot tell what kind of papers file this is)"),
        ("storage/ABC123/figure.png", 0, "not a supported papers file (looks like a binary file (it contains NUL bytes))"),
    ]  # hidden files and folders are not looked at
    skipped = [r for r in result.rejected if r.kind == "no_abstract"]
    assert len(skipped) == sum(no_abstract for _, no_abstract in MIXED.values())
    assert "storage/DEF456/pubmed.nbib" in {r.file for r in skipped}  # named by their path in the folder
    assert not [r for r in result.rejected if r.kind == "unreadable"]
    summary = IngestReport(added=[p.id for p in result.papers], rejected=result.rejected).summary()
    assert summary == ("19 added, 0 unchanged, 0 updated, 0 rejected, 4 skipped without an abstract, "
                       "2 files skipped as not papers files")


def test_a_file_of_a_papers_format_refused_whole_is_rejected_by_name_and_the_rest_read(tmp_path):
    folder = mixed_folder(tmp_path)
    (folder / "broken.bib").write_text("@article{a,\n  title = {One}\n}\n@article{b,\n  title = {Two}\n}\n",
                                       encoding="utf-8")
    result = read_papers(folder)
    assert len(result.papers) == 19
    [refused] = [r for r in result.rejected if r.kind == "unreadable"]
    assert refused.file == "broken.bib" and refused.line == 0
    assert refused.reason.startswith("none of its 2 entries has an abstract (read as bibtex)")


def test_a_forced_format_applies_to_every_file_in_the_folder(tmp_path):
    folder = mixed_folder(tmp_path)
    result = read_papers(folder, "ris")
    assert result.format == "ris"
    assert {p.source_file for p in result.papers} == {"zotero_scopus.ris"}
    assert {r.file for r in result.rejected if r.kind == "unreadable"} == {
        "zotero_arxiv.bib", "zotero.csl.json", "storage/DEF456/pubmed.nbib", "notes.txt"}


def test_a_folder_with_no_papers_file_is_an_error_naming_its_files(tmp_path):
    folder = tmp_path / "pictures"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub/a.png").write_bytes(PNG)
    (folder / "b.txt").write_text("a line of prose\n", encoding="utf-8")
    with pytest.raises(PapersError) as caught:
        read_papers(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder}: none of the 2 files in this folder (b.txt, sub/a.png) gave papers")
    assert "Supported formats: " in message and "bibtex" in message


def test_an_empty_folder_is_an_error(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / ".hidden.bib").write_text((FIXTURES / "zotero_arxiv.bib").read_text(encoding="utf-8"))
    with pytest.raises(PapersError, match=r"this folder holds no files \(hidden ones are left out\)"):
        read_papers(folder)
