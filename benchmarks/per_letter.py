"""The cross-check the reader issue asks for: the answer metrics on each letter alone.

For each letter of the index, the questions whose gold lies only in that letter (and every
unanswerable one) are asked with retrieval restricted to that letter (RetrievalSettings.letters),
through the same run_eval() as `rag eval`; one JSON object per letter. A composer that does well
overall only because one letter is easy shows here. Settings come from the environment, so

    RAG_ANSWER_COMPOSER=reader python benchmarks/per_letter.py evals/blind.jsonl

measures the trained reader.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from rag import pipeline
from rag.evaluation.evaluate import run_eval
from rag.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--index", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings.from_env()
    if args.index:
        settings = dataclasses.replace(settings, index_dir=args.index)
    index = pipeline.warm(pipeline.ensure_index(settings), settings.answer)
    rows = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    for letter in sorted(index.letters):
        picked = [r for r in rows if {g["letter"] for g in r["gold"]} <= {letter}]  # unanswerable: no gold
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{args.file.stem}-{letter}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked), encoding="utf-8")
            alone = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, letters=(letter,)))
            run = run_eval(path, index, alone, baselines=False)
        ours = run.metrics["systems"]["hybrid (ours)"]["overall"]
        answers = run.metrics["answers"]["overall"]
        found = {"letter": letter, "questions": len(picked), "composer": settings.answer.composer}
        found |= {"mrr": ours.get("mrr"), **{k: answers.get(k) for k in sorted(answers) if k != "n"}}
        print(json.dumps(found), flush=True)


if __name__ == "__main__":
    main()
