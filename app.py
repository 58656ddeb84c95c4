"""Kamerbrieven-assistent: a thin Gradio shell over rag.pipeline.ask_stream.

Run `python app.py [--host H] [--port N]` (or `rag serve`). The index at $RAG_INDEX
(default index/) is loaded once; without one it is built from the corpus while the
app already shows how far that is. HTML comes from rag.app.render; the shared index and
its uploads from rag.app.live. API: `ask` returns the `rag ask --json` object.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from rag import pipeline, records
from rag.app import render
from rag.app.access import Access
from rag.app.links import cited_footer, known_letters
from rag.app.live import LiveIndex, dutch
from rag.errors import RagError
from rag.ingest import provenance
from rag.ingest.corpus import SOORTEN
from rag.settings import Settings
from rag.types import Answer, IngestReport

LIVE: LiveIndex  # the app's loaded index, set by main()
ACCESS = Access()  # who may write, set by main()
EVALS = Path("evals")
# System fonts only: the default theme fonts come from Google, which the app must not need.
THEME = gr.themes.Soft(font=["Segoe UI", "DejaVu Sans", "sans-serif"], font_mono=["DejaVu Sans Mono", "monospace"])


def respond(
    question: str,
    chat: list,
    answers: list[Answer],
    letters: list[str],
    start: str,
    end: str,
    k: int,
    mode: str,
    dossiers: list[str] | None = None,
    years: list[str] | None = None,
    official: bool = False,
) -> Iterator[tuple]:
    """Stream the answer into the chat; at the end fill the sources panel."""
    question = (question or "").strip()
    if not question:
        raise gr.Error("Typ eerst een vraag.")
    settings = _settings(letters, start, end, k, mode, dossiers, years, official)
    turn = len(answers)
    chat = [*_messages(chat), {"role": "user", "content": render.question_html(question)}]
    chat.append({"role": "assistant", "content": ""})
    text, answer = "", None
    try:
        for piece in pipeline.ask_stream(question, LIVE.index, settings, answers):
            if isinstance(piece, Answer):
                answer = piece
                break
            text += piece
            chat[-1]["content"] = render.answer_markdown(text, turn)
            yield chat, gr.skip(), gr.skip(), ""
    except RagError as err:
        raise gr.Error(dutch(err)) from None
    assert answer is not None
    cited = [(c.n, c.passage) for c in answer.citations]
    chat[-1]["content"] = render.answer_markdown(answer.text, turn) + cited_footer(cited)
    yield chat, [*answers, answer], render.sources_html(answer, turn, known=_known()), ""


def open_passage(answers: list[Answer], evt: gr.EventData) -> tuple:
    """A citation or "Open in brief" was clicked: show that paragraph in its letter; a reference
    to an indexed letter was clicked: show that letter."""
    turn, n, wanted = getattr(evt, "turn", None), getattr(evt, "n", 0), getattr(evt, "passage", "")
    referred = getattr(evt, "letter", "") or ""
    if referred:
        target = LIVE.index.letters.get(referred)
        if target is None:
            raise gr.Error("Deze brief staat niet (meer) in de index.")
        return render.letter_html(target, known=_known()), gr.Tabs(selected="brief"), target.id, gr.skip()
    if not isinstance(turn, int) or not 0 <= turn < len(answers):
        raise gr.Error("Dit antwoord is niet meer beschikbaar; stel de vraag opnieuw.")
    answer = answers[turn]
    cited = next((c for c in answer.citations if c.n == n), None)
    passage = cited.passage if cited else next((h.passage for h in answer.hits if h.passage.id == wanted), None)
    letter = LIVE.index.letters.get(passage.letter_id) if passage else None
    if passage is None or letter is None:
        raise gr.Error("Deze brief staat niet (meer) in de index.")
    if letter.text[passage.start : passage.end] != passage.text:  # the letter was replaced since this answer
        raise gr.Error("Deze brief is sindsdien gewijzigd; stel de vraag opnieuw.")
    marks = cited.spans if cited else ((passage.start, passage.end),)
    view = render.letter_html(letter, passage.paragraph, marks, known=_known())
    return view, gr.Tabs(selected="brief"), letter.id, render.sources_html(answer, turn, active=n, known=_known())


def show_letter(letter_id: str) -> str:
    """The letter picked in the letter view, from the top."""
    letter = LIVE.index.letters.get(letter_id or "")
    return render.letter_html(letter, known=_known()) if letter else ""


def upload(
    files: list[str] | None,
    token: str | None = None,
    replace: bool = False,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008
) -> tuple:
    """Add uploaded letters to the index, with embedding progress; list what was added and refused.
    A letter that would replace another with different content waits for `replace` (confirmed)."""
    who = _writer(token, request)
    if not files:
        return (render.ingest_html(IngestReport()), gr.Button(visible=False), *refresh())

    def step(letter_id: str, done: int, total: int) -> None:
        progress((done, total), desc=f"Inbedden: {letter_id}", unit="passages")

    try:
        report = LIVE.add_files([Path(f) for f in files], on_progress=step, who=who, replace=bool(replace))
    except RagError as err:
        raise gr.Error(f"Toevoegen mislukt; de index is ongewijzigd. {dutch(err)}") from None
    return (render.ingest_html(report), gr.Button(visible=bool(report.pending)), *refresh())


def confirm_replace(files: list[str] | None, token: str | None = None, request: gr.Request | None = None) -> tuple:
    """The user confirmed: replace the letters the last upload would replace."""
    return upload(files, token, True, request)


def remove(letter_id: str | None, token: str | None = None, request: gr.Request | None = None) -> tuple:
    """Remove the chosen letter from the index (its last version is kept)."""
    _writer(token, request)
    if not letter_id:
        raise gr.Error("Kies eerst een brief om te verwijderen.")
    try:
        LIVE.remove(letter_id)
    except RagError as err:
        raise gr.Error(dutch(err)) from None
    done = f"Verwijderd: <b>{render.esc(letter_id)}</b> (de vorige versie is bewaard: rag restore)"
    return (f'<p class="ok">{done}</p>', *refresh())


def _writer(token: str | None, request: gr.Request | None) -> str:
    """Who writes; gr.Error if this caller may not (checked here, on the server, for every write)."""
    try:
        return ACCESS.writer(token, getattr(request, "username", None))
    except RagError as err:
        raise gr.Error(err.nl) from None


def refresh(order: str = "datum") -> tuple:
    """The letter lists after a change: filter (letters, dossiers, vergaderjaren), letter view and
    remove choices, and the table of letters in the chosen order."""
    if not LIVE.ready:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), render.esc(LIVE.status)
    index = LIVE.index
    ids = sorted(index.letters)
    dossiers = sorted({d for l in index.letters.values() for d in (l.dossier, *l.also) if d})
    years = sorted({l.vergaderjaar for l in index.letters.values() if l.vergaderjaar})
    return (
        gr.Dropdown(choices=ids),
        gr.Dropdown(choices=[(provenance.format_dossier(d), d) for d in dossiers]),
        gr.Dropdown(choices=years),
        gr.Dropdown(choices=ids),
        gr.Dropdown(choices=ids, value=None),
        letter_table(order),
        render.esc(LIVE.status),
    )


ORDERS = {"datum": "date", "dossier": "dossier", "vergaderjaar": "vergaderjaar"}


def letter_table(order: str = "datum") -> list[list]:
    """A row per letter (id, citation, title, date, origin, paragraphs, passages), in the chosen order."""
    index = LIVE.index
    counts = {lid: m["passages"] for lid, m in index.manifest()["letters"].items()}
    letters = sorted(index.letters.values(), key=lambda l: provenance.order_key(l, ORDERS.get(order, "date")))
    return [
        [
            l.id,
            provenance.letter_citation(l) or "",
            l.title,
            render.date_nl(l.date),
            render.origin_text(l.origin),
            len(l.paragraphs),
            counts[l.id],
        ]
        for l in letters
    ]


def tick() -> tuple:
    """While the index is being built: show progress; once ready, fill the lists and stop polling."""
    return (*refresh(), gr.Timer(active=not LIVE.ready))


def _known() -> dict[str, str]:
    """Identifier -> letter id of the indexed letters, for links between letters."""
    return LIVE.index.derived("known-letters", lambda: known_letters(LIVE.index.letters.values()))


def run_eval(
    choice: str | None,
    uploaded: str | None,
    token: str | None = None,
    request: gr.Request | None = None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008
) -> tuple:
    """Run an evaluation file against the current index: metrics, plots, per-question rows, report.
    A listed set anyone may run; an uploaded file needs the write role."""
    from rag.evaluation import evaluate

    if uploaded:
        _writer(token, request)
    if not uploaded and choice not in _eval_sets():
        raise gr.Error("Kies een evaluatieset uit de lijst of upload er een (.jsonl).")
    path = Path(uploaded) if uploaded else Path(choice or "")
    report_dir = _report_dir()
    try:
        run = evaluate.run_eval(
            path, LIVE.index, LIVE.settings, report_dir, lambda i, n: progress((i, n), desc="Vragen", unit="vragen")
        )
    except RagError as err:
        shutil.rmtree(report_dir, ignore_errors=True)
        raise gr.Error(dutch(err)) from None
    rows = [
        [r["id"], r["type"], r["question"], r["answer"], ", ".join(r["cited"]), "✓" if r["hit"] else "✗",
         r["first_hit_rank"] or "", _score(r, "citation_precision"), _score(r, "answer_support")]
        for r in run.rows
    ]  # fmt: skip
    report = str(run.report_path) if run.report_path else None
    return run.summary_markdown, [str(p) for p in run.plots], rows, report


def _report_dir() -> Path:
    """A new folder for this run's report; the older ones of this process go (Gradio has copied
    what it showed), the newest few stay for their download links."""
    mine = sorted(Path(tempfile.gettempdir()).glob(f"rag-eval-{os.getpid()}-*"), key=lambda p: p.stat().st_mtime)
    for old in mine[:-3]:
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"rag-eval-{os.getpid()}-"))


def _eval_sets() -> list[str]:
    return [str(p) for p in sorted(EVALS.glob("*.jsonl"))]


def _score(row: dict, name: str) -> str:
    value = row["answer_scores"].get(name)
    return "" if value is None else f"{value:.2f}"


def ask_api(question: str) -> dict:
    """The `rag ask --json` object for a question, with the app's settings and index."""
    try:
        return records.answer(pipeline.ask(question, LIVE.index, LIVE.settings))
    except RagError as err:
        raise gr.Error(dutch(err)) from None


def status_api() -> str:
    """What the index holds, or how far building it is."""
    return LIVE.status


def _settings(
    letters: list[str],
    start: str,
    end: str,
    k: int,
    mode: str,
    dossiers: list[str] | None = None,
    years: list[str] | None = None,
    official: bool = False,
) -> Settings:
    base = LIVE.settings
    date_from, date_to = _date(start), _date(end)
    try:
        retrieval = dataclasses.replace(
            base.retrieval,
            letters=tuple(letters or ()),
            date_from=date_from,
            date_to=date_to,
            k=int(k),
            dossiers=tuple(provenance.normal_dossier(d) for d in dossiers or ()),
            vergaderjaren=tuple(provenance.normal_vergaderjaar(y) or y for y in years or ()),
            exclude_uploads=bool(official),
        )
    except (RagError, ValueError, TypeError):
        raise gr.Error("Het aantal passages moet een geheel getal van 1 tot 100 zijn.") from None
    answer = dataclasses.replace(base.answer, mode="llm" if mode == "LLM" else "extractive")
    return dataclasses.replace(base, retrieval=retrieval, answer=answer)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()) if text and text.strip() else None
    except ValueError:
        raise gr.Error(f"Datum '{text}' is onleesbaar: gebruik JJJJ-MM-DD, bijvoorbeeld 2023-07-12.") from None


def _messages(chat: list | None) -> list[dict]:
    """Chat history as {role, content: str}: gradio 6 hands content back as a list of text blocks."""
    out = []
    for m in chat or []:
        content = m["content"]
        if isinstance(content, list):
            content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
        out.append({"role": m["role"], "content": str(content)})
    return out


def build() -> gr.Blocks:
    """The layout (a tab per task) and the events between its parts."""
    with gr.Blocks(title="Kamerbrieven-assistent") as demo:
        with gr.Row(elem_id="top"):
            gr.Markdown("### Kamerbrieven-assistent · NAVO-tops Madrid 2022 en Vilnius 2023", elem_id="title")
            status = gr.Markdown(render.esc(LIVE.status), elem_id="status")
        # the write token, for every write endpoint; checked on the server (rag/app/access.py)
        token = gr.Textbox(
            label="Schrijftoken", type="password", elem_id="token", visible=ACCESS.needs_token,
            info="Nodig om brieven toe te voegen, te vervangen of te verwijderen.",
        )  # fmt: skip
        with gr.Tabs():
            with gr.Tab("Vragen", id="vragen"):
                letters, letter_pick = _chat_tab()
            with gr.Tab("Brieven", id="brieven"):
                lists = _letters_tab(token, *letters, letter_pick, status)
            with gr.Tab("Evaluatie", id="evaluatie"):
                _eval_tab(token)
        timer = gr.Timer(1.0, active=not LIVE.ready)
        timer.tick(tick, None, [*lists, timer], api_visibility="private")
        demo.load(refresh, None, lists, api_visibility="private")
        gr.api(ask_api, api_name="ask", concurrency_id="ask")
        gr.api(status_api, api_name="status")
    return demo


def _chat_tab() -> tuple[tuple[gr.components.Component, ...], gr.Dropdown]:
    """Chat and question on the left, sources and letter view on the right."""
    answers = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chat = gr.Chatbot(
                elem_id="chat", height=480, show_label=False, feedback_options=None,
                placeholder="Stel een vraag over de brieven, in het Nederlands of Engels.",
            )  # fmt: skip
            with gr.Row():
                question = gr.Textbox(
                    elem_id="question", show_label=False, scale=5, max_lines=4,
                    max_length=LIVE.settings.limits.question_chars,
                    placeholder="Bijv.: Hoeveel militaire steun gaf Nederland Oekraïne?",
                )  # fmt: skip
                send = gr.Button("Vraag", elem_id="send", variant="primary", scale=1, min_width=80)
                clear = gr.Button("Nieuw gesprek", elem_id="clear", scale=1, min_width=120)
            with gr.Accordion("Filters en instellingen", open=False, elem_id="options"):
                options = _options()
        with gr.Column(scale=2), gr.Tabs(elem_id="side") as side:
            with gr.Tab("Bronnen", id="bronnen"):
                sources = gr.HTML(
                    render.sources_html(None), elem_id="sources", js_on_load=render.SOURCES_JS, max_height=560
                )
            with gr.Tab("Brief", id="brief"):
                letter_pick = gr.Dropdown([], label="Brief", show_label=False, elem_id="letter-pick", container=False)
                letter = gr.HTML("", elem_id="letter", js_on_load=render.LETTER_JS, max_height=480)
    gr.on(
        [send.click, question.submit], respond, [question, chat, answers, *options], [chat, answers, sources, question],
        concurrency_id="ask", concurrency_limit=4, api_visibility="private",
    )  # fmt: skip
    clear.click(
        lambda: ([], [], render.sources_html(None), ""),
        None,
        [chat, answers, sources, letter],
        api_visibility="private",
    )
    sources.click(open_passage, [answers], [letter, side, letter_pick, sources], api_visibility="private")
    letter_pick.input(show_letter, letter_pick, letter, api_visibility="private")
    return (options[0], options[5], options[6]), letter_pick


def _options() -> list[gr.components.Component]:
    """Letter, dossier, vergaderjaar and date filters, number of passages, answer mode."""
    settings = LIVE.settings
    llm = bool(settings.answer.llm_provider)
    with gr.Row():
        letters = gr.Dropdown([], multiselect=True, label="Alleen deze brieven", elem_id="filter-letters", scale=2)
        dossiers = gr.Dropdown([], multiselect=True, label="Dossier", elem_id="filter-dossiers")
        years = gr.Dropdown([], multiselect=True, label="Vergaderjaar", elem_id="filter-years")
    with gr.Row():
        start = gr.Textbox(label="Vanaf datum", placeholder="JJJJ-MM-DD", elem_id="date-from")
        end = gr.Textbox(label="Tot en met datum", placeholder="JJJJ-MM-DD", elem_id="date-to")
    with gr.Row():
        k = gr.Slider(1, 20, value=settings.retrieval.k, step=1, elem_id="k", label="Aantal passages")
        mode = gr.Radio(
            ["extractief", "LLM"] if llm else ["extractief"], elem_id="mode", label="Antwoordwijze",
            value="LLM" if llm and settings.answer.mode == "llm" else "extractief",
            info=None if llm else "LLM: niet ingesteld (RAG_ANSWER_LLM_PROVIDER)",
        )  # fmt: skip
        official = gr.Checkbox(
            label="Alleen officiële brieven (geen uploads)", value=settings.retrieval.exclude_uploads,
            elem_id="official",
        )  # fmt: skip
    return [letters, start, end, k, mode, dossiers, years, official]


def _letters_tab(token: gr.Textbox, *elsewhere: gr.components.Component) -> list[gr.components.Component]:
    """Upload and remove letters; the table of letters. Returns what refresh() updates:
    the lists of letters `elsewhere` (filter, letter view), the remove choice, the table, the status."""
    writable = ACCESS.writable
    with gr.Row():
        with gr.Column(scale=2):
            mb = LIVE.settings.limits.file_bytes / 2**20
            gr.Markdown(
                f"**Brieven toevoegen**: {SOORTEN}, meerdere tegelijk, tot {mb:.0f} MB elk. "
                "Een officieel Kamerstuk mag zijn metadata.xml meekrijgen (als <id>.metadata.xml)."
                if writable
                else f"**{render.esc(ACCESS.describe())}**"
            )
            files = gr.File(
                file_count="multiple", type="filepath", elem_id="upload", height=140, show_label=False,
                interactive=writable,
            )  # fmt: skip
            result = gr.HTML("", elem_id="ingest-result")
            confirm = gr.Button("Vervangen bevestigen", elem_id="confirm-replace", variant="stop", visible=False)
            with gr.Row(visible=writable):
                remove_pick = gr.Dropdown([], label="Brief verwijderen", elem_id="remove-pick", scale=3)
                remove_btn = gr.Button("Verwijderen", elem_id="remove", variant="stop", scale=1)
        with gr.Column(scale=3):
            order = gr.Radio(list(ORDERS), value="datum", label="Volgorde", elem_id="letters-order")
            headers = ["id", "vindplaats", "titel", "datum", "herkomst", "alinea's", "passages"]
            widths: list[str | int] = ["14%", "22%", "30%", "10%", "10%", "7%", "7%"]
            table = gr.Dataframe(headers=headers, elem_id="letters", interactive=False, wrap=True, column_widths=widths)
    letters, dossiers, years, letter_pick, status = elsewhere
    lists = [letters, dossiers, years, letter_pick, remove_pick, table, status]
    order.change(letter_table, order, table, api_visibility="private")
    write = {"concurrency_id": "write", "concurrency_limit": 1}
    files.upload(upload, [files, token], [result, confirm, *lists], api_name="upload", **write)  # type: ignore[arg-type]
    confirm.click(confirm_replace, [files, token], [result, confirm, *lists], api_name="replace", **write)  # type: ignore[arg-type]
    remove_btn.click(remove, [remove_pick, token], [result, *lists], api_visibility="private", **write)  # type: ignore[arg-type]
    return lists


def _eval_tab(token: gr.Textbox) -> None:
    """Pick or upload an evaluation file, run it, see metrics, plots and rows, download the report."""
    with gr.Row(equal_height=True):
        pick = gr.Dropdown(_eval_sets(), label="Evaluatieset", elem_id="eval-pick", scale=2)
        file = gr.File(
            label="of upload een .jsonl (gaat voor)", type="filepath", elem_id="eval-upload", scale=2,
            interactive=ACCESS.writable,
        )  # fmt: skip
        run = gr.Button("Evaluatie starten", elem_id="eval-run", variant="primary", scale=1)
        report = gr.File(label="Rapport (Markdown)", elem_id="eval-report", scale=2)
    with gr.Tabs():
        with gr.Tab("Samenvatting", id="eval-summary-tab"):
            summary = gr.Markdown("Nog geen evaluatie gedraaid.", elem_id="eval-summary")
        with gr.Tab("Per vraag", id="eval-rows-tab"):
            headers = ["id", "type", "vraag", "antwoord", "geciteerd", "hit", "eerste hit", "citatie-precisie", "steun"]
            widths: list[str | int] = ["6%", "7%", "20%", "31%", "13%", "4%", "5%", "8%", "6%"]
            rows = gr.Dataframe(
                headers=headers, elem_id="eval-rows", interactive=False, wrap=True, column_widths=widths, max_height=520
            )  # fmt: skip
        with gr.Tab("Grafieken", id="eval-plots-tab"):
            plots = gr.Gallery(show_label=False, elem_id="eval-plots", columns=2, height=520, object_fit="contain")
    run.click(
        run_eval, [pick, file, token], [summary, plots, rows, report],
        concurrency_id="eval", concurrency_limit=1, api_visibility="private",
    )  # fmt: skip


def main(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Load (or start building) the index, then serve the app."""
    global LIVE, ACCESS
    LIVE = LiveIndex(settings or Settings.from_env())
    ACCESS = Access.from_settings(LIVE.settings.app, host)
    LIVE.start(background=True)
    print(LIVE.status, flush=True)
    print(ACCESS.describe(), flush=True)
    build().queue(default_concurrency_limit=2, max_size=64).launch(
        server_name=host, server_port=port, css=render.CSS, theme=THEME, ssr_mode=False,
        footer_links=["api"], max_file_size=LIVE.settings.limits.file_bytes,
        auth=list(ACCESS.users) or None, auth_message="Log in om de Kamerbrieven-assistent te gebruiken.",
    )  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the Kamerbrieven-assistent.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    main(host=args.host, port=args.port)
