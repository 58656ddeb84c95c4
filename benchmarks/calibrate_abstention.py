"""Calibrate the extractive answer's abstention threshold on an eval file.

For every question: retrieve, score the sentences once, then for each threshold count
abstention accuracy (unanswerable questions that abstain) and false abstention
(answerable ones that abstain). At the current threshold it also prints answer support
(the answer contains a gold quote) and citation precision (cited quotes that overlap a
gold quote), matching quotes as evals/README.md says (case, white space, hyphens).

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/calibrate_abstention.py \
        --index /tmp/idx evals/dev.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

from rag import answer, evidence, pipeline, questions
from rag.retrieval import retrieve
from rag.settings import Settings


def norm(text: str) -> str:
    return re.sub(r"[\s\-‐–\u00ad]+", "", text.lower())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_file", type=Path)
    parser.add_argument("--index", type=Path, default=Path("index"))
    args = parser.parse_args()
    settings = dataclasses.replace(Settings.from_env(), index_dir=args.index)
    index = pipeline.open_index(settings)
    known, embedder = pipeline.answer_context(index)  # what ask() uses: stored sentence vectors
    rows = []
    for line in args.eval_file.read_text().splitlines():
        item = json.loads(line)
        started = time.perf_counter()
        hits = retrieve(item["question"], index, settings.retrieval)
        scored = evidence.score(item["question"], evidence.candidates(hits, answer.DEPTH), embedder, answer.WEIGHTS)
        dutch = questions.language(item["question"]) == "nl"
        unknown = questions.unknown_names(item["question"], known, dutch)
        chosen = answer.select(item["question"], scored, settings.answer.max_sentences)
        ms = (time.perf_counter() - started) * 1000
        reason = answer.abstention_reason(item["question"], scored, settings.answer, known)
        best = answer.support(item["question"], scored, with_overlap=dutch)
        rows.append((item, best, unknown, chosen, ms, dutch, reason))
    sweep(rows)
    report(rows, settings.answer.min_support)


def sweep(rows: list) -> None:
    """Abstention accuracy and false abstention rate per threshold of `min_support`, over the
    Dutch questions (English ones are judged on cosine alone, by `min_similarity_en`)."""
    dutch = [r for r in rows if r[5]]
    unanswerable = [r for r in dutch if r[0]["type"] == "unanswerable"]
    answerable = [r for r in dutch if r[0]["type"] != "unanswerable"]
    print(f"Dutch questions: {len(answerable)} answerable, {len(unanswerable)} unanswerable")
    print("threshold  abstention_acc  false_abstention")
    for step in range(0, 31):
        t = 0.80 + step * 0.01
        acc = sum(bool(r[2]) or r[1] < t for r in unanswerable) / max(1, len(unanswerable))
        false = sum(bool(r[2]) or r[1] < t for r in answerable) / max(1, len(answerable))
        print(f"{t:9.3f}  {acc:14.2f}  {false:16.3f}")


def report(rows: list, threshold: float) -> None:
    """Per question at the current threshold, then totals."""
    supported = precise = cited = abstained_wrong = 0
    for item, best, unknown, chosen, ms, _dutch, reason in rows:
        abstains = reason is not None  # the composer's own rule, as ask() applies it
        gold = [norm(g["quote"]) for g in item["gold"]]
        text = norm(" ".join(s.text for s in chosen))
        ok = any(g in text for g in gold)
        good = [any(g[: max(8, len(g) // 2)] in norm(s.text) or norm(s.text) in g for g in gold) for s in chosen]
        if item["type"] != "unanswerable":
            abstained_wrong += abstains
            if not abstains:
                supported += ok
                precise += sum(good)
                cited += len(chosen)
        flag = "ABSTAIN" if abstains else ("ok" if ok else "MISS")
        print(
            f"{item['id']} {item['type'][:8]:8} best={best:.3f} {flag:7} cited={sum(good)}/{len(chosen)} "
            f"{ms:6.0f} ms {'unknown=' + ','.join(unknown) if unknown else ''}"
        )
    answered = sum(1 for r in rows if r[0]["type"] != "unanswerable") - abstained_wrong
    print(
        f"threshold {threshold}: answer support {supported}/{answered}, citation precision {precise}/{cited}, "
        f"false abstentions {abstained_wrong}, mean latency {sum(r[4] for r in rows) / len(rows):.0f} ms"
    )


if __name__ == "__main__":
    main()
