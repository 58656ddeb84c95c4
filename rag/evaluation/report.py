"""An evaluation result -> Markdown tables, PNG plots and a per-question table."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rag.evaluation.metrics import CUTOFFS

ANSWER_COLUMNS = [
    ("citation_precision", "citation precision"),
    ("citation_recall", "citation recall (list/multi)"),
    ("abstention_correct", "abstention accuracy"),
    ("false_abstention", "false abstention"),
    ("answer_support", "answer support"),
    ("token_f1", "token F1"),
]


def markdown_tables(result: dict) -> str:
    """The summary tables: retrieval per system, by type, by language; answer metrics."""
    systems = result["systems"]
    lines = [
        f"{result['questions']} questions ({result['answerable']} answerable); answers use the top {result['k']} passages.",
        "",
        "### Retrieval (answerable questions)",
        "",
        "| system | "
        + " | ".join(f"R@{k}" for k in CUTOFFS)
        + " | full R@10 (list/multi) | MRR | nDCG@10 | p50 ms | p95 ms |",
        "|---" * (len(CUTOFFS) + 6) + "|",
    ]
    for name, s in systems.items():
        o = s["overall"]
        cells = [_f(o.get(f"recall@{k}")) for k in CUTOFFS]
        cells += [_f(o.get("full_recall@10")), _f(o.get("mrr")), _f(o.get("ndcg@10"))]
        cells += [f"{s['latency_ms']['p50']:.1f}", f"{s['latency_ms']['p95']:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for part, title in (("by_type", "question type"), ("by_lang", "language")):
        keys = sorted({k for s in systems.values() for k in s[part]})
        lines += [
            "",
            f"### MRR and R@5 by {title}",
            "",
            "| " + title + " | n | " + " | ".join(f"{name} MRR | {name} R@5" for name in systems) + " |",
            "|---" * (2 + 2 * len(systems)) + "|",
        ]
        for key in keys:
            n = next(s[part][key]["n"] for s in systems.values() if key in s[part])
            cells = [
                f"{_f(s[part].get(key, {}).get('mrr'))} | {_f(s[part].get(key, {}).get('recall@5'))}"
                for s in systems.values()
            ]
            lines.append(f"| {key} | {n} | " + " | ".join(cells) + " |")
    if "answers" in result:
        a = result["answers"]
        lines += [
            "",
            "### Answers (our pipeline)",
            "",
            "| " + " | ".join(t for _, t in ANSWER_COLUMNS) + " | unanswerable abstained | p50 ms | p95 ms |",
            "|---" * (len(ANSWER_COLUMNS) + 3) + "|",
        ]
        cells = [_f(a["overall"].get(k)) for k, _ in ANSWER_COLUMNS]
        cells += [_f(a["unanswerable_abstained"]), f"{a['latency_ms']['p50']:.1f}", f"{a['latency_ms']['p95']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def question_table(rows: list[dict], systems: list[str]) -> str:
    """Per question: first hit rank per system, what our pipeline answered and cited, and how well."""
    head = "| id | type | question | " + " | ".join(f"rank {s}" for s in systems)
    head += " | answer | cited | citation precision | support |"
    lines = [head, "|---" * (7 + len(systems)) + "|"]
    for r in rows:
        ranks = [str(r["ranks"].get(s) or "–") for s in systems]
        answer = ("(abstained) " if r["abstained"] else "") + r["answer"][:160].replace("\n", " ")
        lines.append(
            f"| {r['id']} | {r['type']} | {_cell(r['question'])} | "
            + " | ".join(ranks)
            + f" | {_cell(answer)} | {', '.join(r['cited'])} | "
            + " | ".join(_f(r["answer_scores"].get(name)) for name in ("citation_precision", "answer_support"))
            + " |"
        )
    return "\n".join(lines)


def write(directory: Path, eval_path: Path, result: dict, rows: list[dict]) -> dict:
    """Write report.md, metrics.json, rows.jsonl and the plots; return report_path and plots."""
    directory.mkdir(parents=True, exist_ok=True)
    plots = _plots(directory, result)
    systems = list(result["systems"])
    text = [f"# Evaluation of `{eval_path.name}`", "", markdown_tables(result), ""]
    text += [f"![{p.stem}]({p.name})" for p in plots]
    text += [
        "",
        "## Per question",
        "",
        "A rank is the position of the first passage covering a gold quote (– : not in the top 10).",
        "",
        question_table(rows, systems),
        "",
    ]
    report = directory / "report.md"
    report.write_text("\n".join(text), encoding="utf-8")
    (directory / "metrics.json").write_text(json.dumps(no_nan(result), indent=2), encoding="utf-8")
    (directory / "rows.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return {"report_path": report, "plots": plots}


def _plots(directory: Path, result: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = result["systems"]
    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, s in systems.items():
        ax.plot(CUTOFFS, [s["overall"].get(f"recall@{k}", math.nan) for k in CUTOFFS], marker="o", label=name)
    ax.set(xlabel="k", ylabel="recall@k", title="Recall@k per system", ylim=(0, 1.02), xticks=CUTOFFS)
    ax.legend()
    paths.append(_save(fig, directory / "recall_at_k.png"))

    types = sorted({t for s in systems.values() for t in s["by_type"]})
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(1, len(systems))
    for i, (name, s) in enumerate(systems.items()):
        ax.bar(
            [x + i * width for x in range(len(types))],
            [s["by_type"].get(t, {}).get("mrr", 0) for t in types],
            width,
            label=name,
        )
    ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(types))], types, rotation=20)
    ax.set(ylabel="MRR", title="MRR by question type", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    paths.append(_save(fig, directory / "mrr_by_type.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(systems) + (["answer (ours, end to end)"] if "answers" in result else [])
    lat = [systems[n]["latency_ms"] for n in systems] + (
        [result["answers"]["latency_ms"]] if "answers" in result else []
    )
    ax.barh(names, [l["p95"] for l in lat], color="#bbb", label="p95")
    ax.barh(names, [l["p50"] for l in lat], color="#357", label="p50")
    ax.set(xlabel="ms", title="Latency per question")
    ax.legend()
    paths.append(_save(fig, directory / "latency.png"))

    if "answers" in result:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        values = [result["answers"]["overall"].get(k, float("nan")) for k, _ in ANSWER_COLUMNS]
        ax.bar([t.replace(" (list/multi)", "\n(list/multi)") for _, t in ANSWER_COLUMNS], values, color="#357")
        ax.set(ylim=(0, 1.02), title="Answer metrics (our pipeline)")
        ax.tick_params(axis="x", labelsize=7)
        paths.append(_save(fig, directory / "answers.png"))
    return paths


def _save(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _f(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def no_nan(value: object) -> object:
    """The same structure with NaN (a metric without questions) as None, for strict JSON."""
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nan(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value
