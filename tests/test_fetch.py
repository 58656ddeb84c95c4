"""`rag fetch` against a local HTTP server on 127.0.0.1 that answers like the official
repository (SRU search records, the XML and metadata.xml at the addresses they give),
including an HTTP error, a timeout and malformed records. No official server is contacted."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from places import DATA

from rag.cli import main
from rag.errors import FetchError
from rag.ingest import fetch
from rag.settings import FetchSettings

XML = (DATA / "kst" / "kst-36200-V-12.xml").read_bytes()
META = (DATA / "kst" / "kst-36200-V-12.metadata.xml").read_bytes()


def record(base: str, ident: str, day: str, xml: bool = True) -> str:
    """One SRU record in the shape of the official gzd records."""
    path = f"{base}/frbr/officielepublicaties/kst/36200-V/{ident}/1"
    items = f'<gzd:itemUrl manifestation="xml">{path}/xml/{ident}.xml</gzd:itemUrl>' if xml else ""
    return f"""<sru:record><sru:recordSchema>gzd</sru:recordSchema><sru:recordData><gzd:gzd>
  <gzd:originalData><overheidwetgeving:meta>
    <overheidwetgeving:owmskern><dcterms:identifier>{ident}</dcterms:identifier>
      <dcterms:title>Brief</dcterms:title><dcterms:type scheme="OVERHEIDop.Parlementair">Kamerstuk</dcterms:type>
      <dcterms:creator>Tweede Kamer der Staten-Generaal</dcterms:creator></overheidwetgeving:owmskern>
    <overheidwetgeving:owmsmantel><dcterms:date>{day}</dcterms:date></overheidwetgeving:owmsmantel>
    <overheidwetgeving:tpmeta><c:product-area>officielepublicaties</c:product-area>
      <overheidwetgeving:dossiernummer>36200-V</overheidwetgeving:dossiernummer></overheidwetgeving:tpmeta>
  </overheidwetgeving:meta></gzd:originalData>
  <gzd:enrichedData><gzd:preferredUrl>https://zoek.officielebekendmakingen.nl/{ident}.html</gzd:preferredUrl>{items}</gzd:enrichedData>
</gzd:gzd></sru:recordData></sru:record>"""


def response(records: list[str]) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sru:searchRetrieveResponse xmlns:sru="http://docs.oasis-open.org/ns/search-ws/sruResponse"
  xmlns:gzd="http://standaarden.overheid.nl/sru" xmlns:dcterms="http://purl.org/dc/terms/"
  xmlns:overheidwetgeving="http://standaarden.overheid.nl/wetgeving/" xmlns:c="http://standaarden.overheid.nl/collectie/">
  <sru:version>2.0</sru:version><sru:numberOfRecords>{len(records)}</sru:numberOfRecords>
  <sru:records>{"".join(records)}</sru:records></sru:searchRetrieveResponse>""".encode()


class Repository(BaseHTTPRequestHandler):
    """The fixture repository. kst-36200-V-12 and -13 are fine; -500 answers HTTP 500, -998's
    XML never comes in time, -999's record has no file address, -997's XML is broken."""

    base = ""
    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        url = urllib.parse.urlparse(self.path)
        Repository.asked.append(self.path)
        if url.path == "/sru":
            self.sru(urllib.parse.parse_qs(url.query)["query"][0])
        elif url.path.endswith("/metadata/metadata.xml"):
            ident = url.path.split("/")[-4]
            number = ident.rsplit("-", 1)[1]
            self.send(
                META.replace(b"kst-36200-V-12", ident.encode()).replace(
                    b'scheme="" content="12"', f'scheme="" content="{number}"'.encode()
                )
            )
        elif url.path.endswith(".xml"):
            ident = url.path.rsplit("/", 1)[1][: -len(".xml")]
            if ident.endswith("-998"):
                time.sleep(2)
            body = XML.replace(
                b'<ondernummer kamer="2">12</ondernummer>',
                f'<ondernummer kamer="2">{ident.rsplit("-", 1)[1]}</ondernummer>'.encode(),
            )
            self.send(body[:400] if ident.endswith("-997") else body)
        else:
            self.send(b"not found", 404)

    def sru(self, query: str) -> None:
        if "kst-36200-V-500" in query:
            return self.send(b"<error>internal</error>", 500)
        if query.startswith("dt.identifier=="):
            ident = query.split("==", 1)[1]
            known = ident in (
                "kst-36200-V-12",
                "kst-36200-V-13",
                "kst-36200-V-998",
                "kst-36200-V-997",
                "kst-36200-V-999",
            )
            found = [record(self.base, ident, "2022-11-14", xml=not ident.endswith("-999"))] if known else []
            return self.send(response(found))
        if query.startswith("w.dossiernummer==36200-V"):
            found = [
                record(self.base, "kst-36200-V-12", "2022-11-14"),
                record(self.base, "kst-36200-V-13", "2023-02-01"),
            ]
            return self.send(response(found))
        self.send(response([]))

    def send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout case)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def repository() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Repository)
    Repository.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Repository.base
    server.shutdown()
    server.server_close()


def settings(base: str) -> FetchSettings:
    return FetchSettings(base_url=base, timeout=0.5)


def test_fetch_by_identifier_writes_the_xml_and_its_metadata(repository: str, tmp_path: Path) -> None:
    files = fetch.fetch(settings(repository), tmp_path, ["kst-36200-V-12"])
    assert files == [tmp_path / "kst-36200-V-12.xml"]
    assert (tmp_path / "kst-36200-V-12.metadata.xml").read_bytes() == META
    assert any(a.startswith("/sru?") and "dt.identifier%3D%3Dkst-36200-V-12" in a for a in Repository.asked)


def test_fetch_a_dossier_since_a_date(repository: str, tmp_path: Path) -> None:
    every = fetch.fetch(settings(repository), tmp_path / "all", dossier="36 200 V")
    assert [p.name for p in every] == ["kst-36200-V-12.xml", "kst-36200-V-13.xml"]
    import datetime as dt

    recent = fetch.fetch(settings(repository), tmp_path / "recent", dossier="36200-V", since=dt.date(2023, 1, 1))
    assert [p.name for p in recent] == ["kst-36200-V-13.xml"]


@pytest.mark.parametrize(
    ("ident", "reason"),
    [
        ("kst-36200-V-500", "answered HTTP 500"),
        ("kst-36200-V-998", "no answer within 0.5 s"),
        ("kst-36200-V-999", "malformed search record"),
        ("kst-36200-V-997", "broken file"),
        ("kst-36200-V-404", "not found in the repository"),
    ],
)
def test_a_failed_fetch_stores_nothing(repository: str, tmp_path: Path, ident: str, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        fetch.fetch(settings(repository), tmp_path, ["kst-36200-V-12", ident])  # the good one is not kept either
    assert list(tmp_path.iterdir()) == []


def test_rag_fetch_ingests_end_to_end_and_fails_in_one_line(repository: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    index, corpus = str(tmp_path / "index"), tmp_path / "corpus"
    args = ["--base-url", repository, "--timeout", "0.5", "--to", str(corpus), "--index", index, "--quiet"]
    assert main(["fetch", "kst-36200-V-12", *args]) == 0
    out = capsys.readouterr().out
    assert "fetched:" in out and "added: kst-36200-V-12" in out
    assert main(["passages", "--json", "--index", index]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(r["citation"].startswith("Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea ") for r in rows)
    assert {r["url"] for r in rows} == {"https://zoek.officielebekendmakingen.nl/kst-36200-V-12.html"}
    before = (tmp_path / "index" / "manifest.json").read_text()
    assert main(["fetch", "kst-36200-V-998", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no answer within" in err
    assert (tmp_path / "index" / "manifest.json").read_text() == before
    assert sorted(p.name for p in corpus.iterdir()) == ["kst-36200-V-12.metadata.xml", "kst-36200-V-12.xml"]
