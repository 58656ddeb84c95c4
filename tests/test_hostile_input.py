"""Bad and hostile input, file by file and question by question: each one is refused alone
with a one-line reason (a RagError), and nothing already stored changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from places import ROOT

from rag import pipeline
from rag.app.live import safe_name
from rag.cli import main
from rag.errors import CorpusError, QuestionError, SettingsError
from rag.ingest import chunking, corpus
from rag.ingest.corpus import letter_id, parse_text, read_letter
from rag.settings import ChunkingSettings, LimitsSettings, RetrievalSettings, Settings

LETTER = "VERSLAG VAN DE OEFENING\n\nEen alinea over de oefening in Harderwijk.\n\nEen tweede alinea.\n"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- item 3: one bad file refuses that file alone; fuzzed, nothing but CorpusError --------


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=600))
def test_no_text_makes_the_parser_raise_anything_but_a_corpus_error(text: str) -> None:
    try:
        letter = parse_text(text, "fuzz")
    except CorpusError:
        return
    for p in letter.paragraphs:
        assert letter.text[p.start : p.end] == p.text


_LETTERISH = st.lists(
    st.one_of(
        st.sampled_from(["", " ", "Titel 31 februari 2023", "1 voetnoot", "NAVO-landen1 tekenden.", "• punt", "\f"]),
        st.sampled_from(["29 februari 2023", "0 mei 2024", "99 juli 2023", "12 juli 99999"]),
        st.text(max_size=40),
    ),
    max_size=30,
).map("\n".join)


@FUZZ
@given(_LETTERISH)
def test_letter_shaped_text_with_odd_dates_and_notes_raises_only_corpus_errors(text: str) -> None:
    try:
        parse_text(text, "fuzz")
    except CorpusError:
        pass


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([".txt", ".pdf"]))
def test_no_file_makes_read_letter_raise_anything_but_a_corpus_error(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(b"%PDF-1.4\n" + data if suffix == ".pdf" and data[:1] == b"%" else data)
    try:
        read_letter(path)
    except CorpusError as err:
        assert "\n" not in str(err).strip() and path.name in str(err)


def test_an_impossible_date_refuses_that_letter_alone(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "goed.txt").write_text(LETTER, encoding="utf-8")
    (folder / "fout.txt").write_text("VERSLAG VAN 31 FEBRUARI 2023\n\nEen alinea.\n\nNog een.\n", encoding="utf-8")
    code, out, err = run(capsys, "ingest", str(folder), "--quiet", "--index", str(tmp_path / "idx"))
    assert code == 1 and "added: goed" in out and "Traceback" not in err
    refused = [l for l in out.splitlines() if l.startswith("refused:")]
    assert len(refused) == 1 and "fout.txt" in refused[0] and "does not exist" in refused[0] and "sidecar" in refused[0]


def test_a_255_byte_file_name_is_read_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / ("b" * 251 + ".txt")  # the sidecar's name would be 256 bytes
    path.write_text(LETTER, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(path), "--quiet", "--index", str(tmp_path / "idx")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"},
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr and f"added: {'b' * 251}" in result.stdout


# --- smaller items: encodings, NUL, pypdf's warnings, one id rule ------------------------------


def test_utf16_with_a_bom_is_decoded(tmp_path: Path) -> None:
    for codec in ("utf-16", "utf-16-be", "utf-32"):
        path = tmp_path / f"brief-{codec}.txt"
        bom = {"utf-16-be": b"\xfe\xff"}.get(codec, b"")
        path.write_bytes(bom + LETTER.replace("oefening", "oefening Oekraïne").encode(codec))
        assert "oefening Oekraïne in Harderwijk" in read_letter(path).paragraphs[0].text


def test_nul_bytes_after_the_first_4kb_are_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "nul.txt"
    path.write_bytes((LETTER + "x" * 5000 + "\n\nEen alinea met een NUL\x00 erin.\n").encode())
    letter = read_letter(path)
    assert "\x00" not in letter.text and "Een alinea met een NUL erin." in letter.text


def test_pypdf_warnings_go_to_the_log_not_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "kapot.pdf"
    bad.write_bytes(b"garbage before %PDF-1.4 and no EOF marker")
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(bad), "--quiet", "--index", str(tmp_path / "idx")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"},
    )  # fmt: skip
    assert result.returncode == 1 and "refused:" in result.stdout and "kapot.pdf" in result.stdout
    assert result.stderr.strip() == ""  # no "invalid pdf header" between the lines


@pytest.mark.parametrize("name", [".verborgen.txt", "regel\neen.txt", " spatie .txt", "a/b.txt", "Café\u0301.txt"])
def test_the_cli_and_the_app_give_a_file_the_same_id(tmp_path: Path, name: str) -> None:
    staged = tmp_path / safe_name(name)
    staged.write_text(LETTER, encoding="utf-8")
    assert read_letter(staged).id == letter_id(name) and "\n" not in letter_id(name)
    assert not letter_id(name).startswith(".") and letter_id(letter_id(name) + ".txt") == letter_id(name)


# --- item 7: the same content under another name ----------------------------------------------


def test_the_same_content_under_another_name_is_refused_naming_the_letter(capsys, tmp_path: Path) -> None:
    (tmp_path / "eerste.txt").write_text(LETTER, encoding="utf-8")
    (tmp_path / "kopie.txt").write_text(LETTER.replace("\n\n", "\n\n  "), encoding="utf-8")  # white space differs
    index = str(tmp_path / "idx")
    assert run(capsys, "ingest", str(tmp_path / "eerste.txt"), "--quiet", "--index", index)[0] == 0
    code, out, _ = run(capsys, "ingest", str(tmp_path / "kopie.txt"), "--quiet", "--index", index)
    assert code == 1 and "same content is already in the index as letter 'eerste'" in out
    assert set(json.loads((tmp_path / "idx" / "manifest.json").read_text())["letters"]) == {"eerste"}


# --- item 5 (CLI half): replacing says so, with counts, and can be undone ------------------------


def test_replacing_a_letter_says_replaced_with_counts_and_restore_undoes_it(capsys, tmp_path: Path) -> None:
    path, index = tmp_path / "brief.txt", str(tmp_path / "idx")
    path.write_text(LETTER, encoding="utf-8")
    run(capsys, "ingest", str(path), "--quiet", "--index", index)
    path.write_text("VERSLAG VAN DE OEFENING\n\nHACKED.\n", encoding="utf-8")
    code, out, _ = run(capsys, "ingest", str(path), "--quiet", "--index", index)
    assert code == 0 and "replaced: brief (2 passages before, 1 now; rag restore brief undoes it)" in out
    code, out, _ = run(capsys, "restore", "brief", "--index", index)
    assert code == 0 and "replaced: brief (1 passages before, 2 now" in out
    code, out, _ = run(capsys, "remove", "brief", "--index", index)
    code, out, _ = run(capsys, "restore", "brief", "--index", index)
    assert code == 0 and "added: brief" in out


# --- items 8, 9, 10, 11: limits and numbers -----------------------------------------------------


def test_a_long_question_is_refused_before_any_work(capsys, built_index_dir: Path) -> None:
    code, _, err = run(capsys, "ask", "waarom " * 2000, "--index", str(built_index_dir))
    assert code == 2 and "14,000 characters long; the limit is 2,000" in err and "RAG_LIMITS_QUESTION_CHARS" in err
    with pytest.raises(QuestionError):
        pipeline.ask("x" * 2001, None, Settings())  # type: ignore[arg-type]  # refused before the index is used


def test_an_empty_question_is_a_one_line_error(capsys, built_index_dir: Path) -> None:
    for question in ("", "   "):
        code, out, err = run(capsys, "ask", question, "--index", str(built_index_dir))
        assert code == 2 and out == "" and err.count("\n") == 1 and "question is empty" in err


@pytest.mark.parametrize("k", ["0", "-1", "101"])
def test_k_outside_1_to_100_is_a_one_line_error(capsys, built_index_dir: Path, k: str) -> None:
    code, out, err = run(capsys, "ask", "Wat is UCAP?", "--k", k, "--index", str(built_index_dir))
    assert code == 2 and out == "" and err.count("\n") == 1 and "from 1 to 100" in err


def test_settings_from_the_environment_are_range_checked() -> None:
    with pytest.raises(SettingsError, match="RAG_RETRIEVAL_K"):
        Settings.from_env({"RAG_RETRIEVAL_K": "-1"})
    with pytest.raises(SettingsError, match="RAG_CHUNKING_MAX_CHARS"):
        Settings.from_env({"RAG_CHUNKING_MAX_CHARS": "0"})
    with pytest.raises(SettingsError, match="not a valid int"):
        Settings.from_env({"RAG_LIMITS_PAGES": "veel"})
    assert Settings.from_env({"RAG_RETRIEVAL_K": "100"}).retrieval.k == 100
    with pytest.raises(SettingsError):
        RetrievalSettings(k=0)
    with pytest.raises(SettingsError, match="RAG_ANSWER_COMPOSER='regels': use rules or reader"):
        Settings.from_env({"RAG_ANSWER_COMPOSER": "regels"})
    with pytest.raises(SettingsError, match="RAG_ANSWER_RULES_FALLBACK"):
        Settings.from_env({"RAG_ANSWER_RULES_FALLBACK": "yes"})
    assert Settings.from_env({"RAG_ANSWER_RULES_FALLBACK": "off"}).answer.rules_fallback == "off"
    with pytest.raises(SettingsError, match="RAG_ANSWER_RULES_FOLLOW is -1; it must be a number from 0"):
        Settings.from_env({"RAG_ANSWER_RULES_FOLLOW": "-1"})
    with pytest.raises(SettingsError, match="RAG_ANSWER_DEPTH is 0; it must be a number from 1"):
        Settings.from_env({"RAG_ANSWER_DEPTH": "0"})
    assert Settings.from_env({"RAG_ANSWER_READER_FOLLOW": "0"}).answer.reader_follow == 0


def test_a_file_over_the_byte_limit_is_refused_with_the_setting_to_raise(tmp_path: Path) -> None:
    path = tmp_path / "groot.txt"
    path.write_text(LETTER + "Een zin over de NAVO. " * 5000, encoding="utf-8")
    with pytest.raises(CorpusError, match="above the limit of 0.1 MB.*RAG_LIMITS_FILE_BYTES") as caught:
        read_letter(path, LimitsSettings(file_bytes=100_000))
    assert "RAG_LIMITS_FILE_BYTES" in caught.value.nl


def test_a_pdf_over_the_page_limit_is_refused(tmp_path: Path) -> None:
    from pdfs import make_pdf

    path = tmp_path / "lang.pdf"
    path.write_bytes(make_pdf([[f"Pagina {i} van een lange brief over de NAVO."] for i in range(5)]))
    with pytest.raises(CorpusError, match="5 pages, above the limit of 3.*RAG_LIMITS_PAGES"):
        read_letter(path, LimitsSettings(pages=3))


def test_a_letter_over_the_embedding_limit_is_refused_before_embedding(capsys, tmp_path: Path) -> None:
    path = tmp_path / "veel.txt"
    path.write_text("VERSLAG\n\n" + "\n\n".join(f"Alinea {i}. Over de NAVO." for i in range(40)), encoding="utf-8")
    code, out, _ = run(capsys, "ingest", str(path), "--quiet", "--index", str(tmp_path / "idx"))
    assert code == 0  # 40 passages and 80 sentences is under the default
    path.write_text(path.read_text(encoding="utf-8") + "\n\nNog een alinea.\n", encoding="utf-8")
    monkey = {"RAG_LIMITS_EMBEDDING_UNITS": "50"}
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(path), "--quiet", "--index", str(tmp_path / "idx")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin", **monkey},
    )  # fmt: skip
    assert result.returncode == 1 and "needs 122 units of embedding" in result.stdout
    assert "above the limit of 50" in result.stdout and "RAG_LIMITS_EMBEDDING_UNITS" in result.stdout
    assert "embedding" not in result.stderr  # refused before the embedder started


def test_a_paragraph_without_sentence_ends_is_split_hard_at_max_chars() -> None:
    words = " ".join(f"woord{i}" for i in range(3000))  # ~26,000 characters, no full stop
    letter = parse_text(f"TITEL\n\n{words}\n\nEen gewone alinea.", "lang")
    passages = chunking.passages(letter, ChunkingSettings(max_chars=1500))
    long = [p for p in passages if p.paragraph == 1]
    assert len(long) > 10 and all(len(p.text) <= 1500 for p in long)
    assert all(letter.text[p.start : p.end] == p.text for p in passages)
    assert " ".join(p.text for p in long) == words  # cut at spaces: nothing lost, nothing doubled
    glued = parse_text("TITEL\n\n" + "x" * 4000 + "\n\nEen alinea.", "glued")
    assert [len(p.text) for p in chunking.passages(glued, ChunkingSettings(max_chars=1500))][:3] == [1500, 1500, 1000]


def test_corpus_module_keeps_no_state_between_files() -> None:
    assert corpus.letter_id("x.txt") == "x"  # a pure function of the name


# --- item 6: content poisoning: an upload is marked, and can be left out ------------------------


def test_an_uploaded_letter_is_marked_and_the_no_uploads_filter_leaves_it_out(
    capsys, index_copy: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    import dataclasses as dc

    from rag.store.index import Index
    from rag.types import Origin

    settings = Settings(index_dir=index_copy)
    index = Index.load(index_copy, embedder, settings.chunking)
    poison = parse_text("VERSLAG\n\nDe militaire steun aan Oekraïne bedraagt HACKED miljard euro.", "poison")
    poison = dc.replace(poison, origin=Origin("upload", "mallory", "2024-01-01T00:00:00+00:00"))
    pipeline.add_letters(settings, index, [poison])
    question = "Hoeveel bedraagt de militaire steun aan Oekraïne?"
    code, out, _ = run(capsys, "ask", question, "--json", "--k", "20", "--index", str(index_copy))
    found = {p["letter_id"]: p["origin"] for p in json.loads(out)["passages"]}
    assert found["poison"] == {
        "kind": "upload",
        "by": "mallory",
        "at": "2024-01-01T00:00:00+00:00",
        "identifier": None,
        "identifier_verified": False,
    }
    code, out, _ = run(capsys, "ask", question, "--json", "--k", "20", "--no-uploads", "--index", str(index_copy))
    assert code == 0 and all(p["origin"]["kind"] == "corpus" for p in json.loads(out)["passages"])
