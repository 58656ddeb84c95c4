"""A PDF letter -> its text, page by page, in the layout text.py reads (a form feed
between pages), so that footnotes, hyphens and page breaks are undone the same way and each
paragraph keeps the page it starts on (for the citation's "p. N")."""

from __future__ import annotations

import io
import re
from pathlib import Path

from pypdf import PdfReader

from rag.errors import CorpusError
from rag.ingest.assemble import Draft
from rag.ingest.refusal import refuse as _refuse
from rag.ingest.text import draft_text


def draft_pdf(path: Path, data: bytes, fallback_title: str, max_pages: int = 500) -> Draft:
    """The draft of a PDF letter, each paragraph with its page."""
    return draft_text(pdf_text(path, data, max_pages), fallback_title, pages=True)


def pdf_text(path: Path, data: bytes, max_pages: int = 500) -> str:
    """Extract a PDF's text page by page, in the layout the .txt letters have: blank lines
    between paragraphs (pypdf's layout mode keeps vertical gaps), a form feed between pages."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _refuse(
                path,
                "the PDF is encrypted. Save an unencrypted copy and add that.",
                "de PDF is versleuteld. Sla een onversleutelde kopie op en voeg die toe.",
            )
        if len(reader.pages) > max_pages:
            raise _refuse(
                path,
                f"the PDF has {len(reader.pages)} pages, above the limit of {max_pages}. Split it, or raise the "
                "limit (RAG_LIMITS_PAGES).",
                f"de PDF heeft {len(reader.pages)} pagina's, meer dan de grens van {max_pages}. Splits hem, of laat "
                "de beheerder de grens verhogen (RAG_LIMITS_PAGES).",
            )
        pages = [page.extract_text(extraction_mode="layout") or "" for page in reader.pages]
    except CorpusError:
        raise
    except Exception as err:  # noqa: BLE001 - pypdf raises many kinds on a damaged file; refuse only that file
        raise _refuse(
            path,
            f"not a readable PDF ({err}). Export the letter to PDF again.",
            f"geen leesbare PDF ({err}). Exporteer de brief opnieuw naar PDF.",
        ) from None
    if sum(len(p.strip()) for p in pages) < 20:
        raise _refuse(
            path,
            "the PDF has no text layer (scanned images?). Run OCR on it first.",
            "de PDF heeft geen tekstlaag (gescande afbeeldingen?). Laat er eerst OCR op los.",
        )
    return "\f".join(_tidy_page(p) for p in pages)  # every page, blank ones too: page numbers are the PDF's


def _tidy_page(text: str) -> str:
    """Strip layout padding and fold runs of blank lines into one."""
    lines = [re.sub(r" {2,}", " ", ln.strip()) for ln in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
