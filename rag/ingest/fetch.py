"""Fetch Kamerstukken from the official repository: find them with its SRU search API,
download each one's XML and metadata.xml, and hand the files to the ingest.

The repository is `FetchSettings.base_url` (SRU at <base>/sru); the files are at the
addresses the search records give (`gzd:itemUrl manifestation="xml"`, the metadata.xml
beside it). A fetch is all or nothing: files are written to a staging folder and moved
into place only when every record found was downloaded and reads as a Kamerstuk, so an
error, a timeout or a malformed record stores nothing half.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from rag.errors import CorpusError, FetchError
from rag.ingest import provenance
from rag.settings import FetchSettings

Log = Callable[[str], None] | None
_PAGE = 100  # records asked per SRU request


@dataclass(frozen=True)
class Record:
    """One search result: the publication's identifier, date and file addresses."""

    identifier: str
    date: dt.date | None
    xml_url: str
    metadata_url: str


def fetch(
    settings: FetchSettings,
    target: Path,
    identifiers: Sequence[str] = (),
    dossier: str | None = None,
    since: dt.date | None = None,
    log: Log = None,
) -> list[Path]:
    """Download the named Kamerstukken (and those of `dossier`, dated on or after `since`)
    into `target` as <id>.xml + <id>.metadata.xml; the XML files written, in order."""
    records: list[Record] = []
    for ident in identifiers:
        found = [r for r in search(settings, f"dt.identifier=={_safe(ident)}") if r.identifier == ident]
        if not found:
            raise FetchError(f"{ident}: not found in the repository at {settings.base_url}. Check the identifier.")
        records.append(found[0])
    if dossier:
        dossier = provenance.normal_dossier(dossier)
        query = f"w.dossiernummer=={_safe(dossier)} AND c.product-area==officielepublicaties"
        if since:
            query += f" AND dt.date>={since.isoformat()}"
        kept = [r for r in search(settings, query) if r.identifier.startswith("kst-")]
        records += [r for r in kept if not since or (r.date and r.date >= since)]
    unique = list({r.identifier: r for r in records}.values())
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".fetch-") as staging:
        staged = [_download(settings, r, Path(staging), i, len(unique), log) for i, r in enumerate(unique, 1)]
        written = []
        for xml, meta in staged:  # every record is complete: only now does anything land in target
            written.append(Path(shutil.move(xml, target / xml.name)))
            shutil.move(meta, target / meta.name)
    return written


def search(settings: FetchSettings, query: str) -> list[Record]:
    """Every record the SRU API gives for a CQL query (page by page, up to max_records)."""
    records: list[Record] = []
    start = 1
    while True:
        params = {"operation": "searchRetrieve", "version": "2.0", "query": query,
                  "startRecord": str(start), "maximumRecords": str(_PAGE), "httpAccept": "application/xml"}  # fmt: skip
        url = f"{settings.base_url.rstrip('/')}/sru?{urllib.parse.urlencode(params)}"
        root = _xml(url, _get(url, settings.timeout))
        total = int(_first(root, "numberOfRecords") or 0)
        page = [_record(url, r) for r in root.iter() if _local(r) == "record"]
        records += page
        start += len(page)
        if not page or start > total or len(records) >= settings.max_records:
            return records[: settings.max_records]


def _download(settings: FetchSettings, record: Record, folder: Path, i: int, n: int, log: Log) -> tuple[Path, Path]:
    """Both files of a record into folder, each checked: the XML must be a Kamerstuk."""
    from rag.ingest.kst_xml import draft_xml, read_metadata

    if log:
        log(f"fetching {record.identifier} ({i}/{n})")
    xml = folder / f"{record.identifier}.xml"
    meta = folder / f"{record.identifier}.metadata.xml"
    xml.write_bytes(_get(record.xml_url, settings.timeout))
    meta.write_bytes(_get(record.metadata_url, settings.timeout))
    try:
        draft_xml(xml, xml.read_bytes())
        read_metadata(meta)
    except CorpusError as err:
        raise FetchError(f"{record.identifier}: the repository sent a broken file: {err}") from None
    return xml, meta


def _get(url: str, timeout: float) -> bytes:
    """The body of a GET, or FetchError saying what went wrong (status, no answer, timeout)."""
    request = urllib.request.Request(url, headers={"User-Agent": "kamerbrieven-rag"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked below
            return response.read()
    except urllib.error.HTTPError as err:
        raise FetchError(f"{url}: the repository answered HTTP {err.code} ({err.reason}). Try again later.") from None
    except TimeoutError:
        raise FetchError(
            f"{url}: no answer within {timeout:g} s. Try again later or raise RAG_FETCH_TIMEOUT."
        ) from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise FetchError(
                f"{url}: no answer within {timeout:g} s. Try again later or raise RAG_FETCH_TIMEOUT."
            ) from None
        raise FetchError(f"{url}: cannot reach the repository ({err.reason}). Check RAG_FETCH_BASE_URL.") from None
    except OSError as err:  # the connection broke off while reading
        raise FetchError(f"{url}: the connection broke off ({err}). Try again later.") from None


def _xml(url: str, data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as err:
        raise FetchError(f"{url}: the search answer is not XML ({err.msg}).") from None


def _record(url: str, el: etree._Element) -> Record:
    """A search record's identifier, date and file addresses; FetchError when one is missing."""
    ident = _first(el, "identifier") or ""
    items = {i.get("manifestation"): (i.text or "").strip() for i in el.iter() if _local(i) == "itemUrl"}
    xml_url = items.get("xml") or ""
    meta_url = items.get("metadata") or re.sub(r"/xml/[^/]+\.xml$", "/metadata/metadata.xml", xml_url)
    if (
        not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{2,80}", ident)
        or not xml_url.startswith(("http://", "https://"))
        or meta_url == xml_url
    ):
        raise FetchError(
            f"{url}: a malformed search record (identifier {ident or 'missing'!r}, xml {xml_url or 'missing'!r})."
        )
    day = _first(el, "date") or _first(el, "available") or ""
    try:
        date = dt.date.fromisoformat(day[:10]) if day else None
    except ValueError:
        date = None
    return Record(ident, date, xml_url, meta_url)


def _first(el: etree._Element, name: str) -> str | None:
    found = next((e for e in el.iter() if _local(e) == name), None)
    return (found.text or "").strip() if found is not None else None


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _safe(value: str) -> str:
    """A value for a CQL query: identifiers and dossier numbers only."""
    if not re.fullmatch(r"[A-Za-z0-9-]{1,60}", value):
        raise FetchError(f"'{value}' is not an identifier or dossier number (kst-28676-440, 28676, 36200-V).")
    return value
