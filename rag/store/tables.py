"""The SQLite side of the FAISS backend (stdlib sqlite3, WAL): letters, passages, sentence
spans, deletion marks, ANN segments, the store's settings, and an FTS5 table over the
Dutch-stemmed passage text (rowid = passage key) for BM25. Read on demand, never whole."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from rag import records
from rag.store.base import Where, dossier_of
from rag.store.lexical import stemmed
from rag.store.vectors import Segment
from rag.types import Letter, Passage

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS letters (
    num INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, sha256 TEXT, source TEXT, title TEXT,
    date TEXT, dossier TEXT, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS letters_date ON letters (date);
CREATE INDEX IF NOT EXISTS letters_dossier ON letters (dossier);
CREATE TABLE IF NOT EXISTS passages (
    key INTEGER PRIMARY KEY, letter INTEGER NOT NULL, pid TEXT UNIQUE NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passages_letter ON passages (letter);
CREATE TABLE IF NOT EXISTS sentences (
    key INTEGER PRIMARY KEY, passage INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_passage ON sentences (passage);
CREATE TABLE IF NOT EXISTS deleted (key INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS segments (kind TEXT NOT NULL, name TEXT PRIMARY KEY, lo INTEGER, hi INTEGER);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5 (stems, tokenize = 'unicode61 remove_diacritics 0');
"""


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with full sync (a commit survives power loss); we manage transactions."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    _with_content_column(db)
    return db


def _with_content_column(db: sqlite3.Connection) -> None:
    """letters.content (Letter.content_key, indexed) in a store made before it existed: the column
    is added empty and filled by fill_content() when a writer next opens a transaction."""
    if "content" in {row[1] for row in db.execute("PRAGMA table_info(letters)")}:
        return
    try:
        db.execute("ALTER TABLE letters ADD COLUMN content TEXT")
    except sqlite3.OperationalError as err:  # another process added it first
        if "duplicate column" not in str(err):
            raise
    db.execute("CREATE INDEX IF NOT EXISTS letters_content ON letters (content)")


def fill_content(db: sqlite3.Connection) -> None:
    """Set letters.content where a store made before the column left it empty (in the caller's
    transaction; once per such store)."""
    rows = db.execute("SELECT num, record FROM letters WHERE content IS NULL").fetchall()
    db.executemany(
        "UPDATE letters SET content = ? WHERE num = ?",
        [(records.letter_from(json.loads(record)).content_key, num) for num, record in rows],
    )


def content_owners(db: sqlite3.Connection, keys: Sequence[str]) -> dict[str, str]:
    """Per content key of these, the id of a letter that says it (by the index on letters.content;
    letters of an older store whose content is not yet filled are read and hashed)."""
    found: dict[str, str] = {}
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), 500):  # SQLite's limit on parameters
        part = wanted[start : start + 500]
        sql = f"SELECT content, id FROM letters WHERE content IN ({','.join('?' * len(part))}) ORDER BY num"
        for content, letter_id in db.execute(sql, part):
            found.setdefault(content, letter_id)
    for letter_id, record in db.execute("SELECT id, record FROM letters WHERE content IS NULL ORDER BY num"):
        key = records.letter_from(json.loads(record)).content_key
        if key in wanted:
            found.setdefault(key, letter_id)
    return found


def get_meta(db: sqlite3.Connection) -> dict:
    return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}


def set_meta(db: sqlite3.Connection, values: dict) -> None:
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])


def segments(db: sqlite3.Connection, kind: str) -> list[Segment]:
    rows = db.execute("SELECT name, lo, hi FROM segments WHERE kind = ? ORDER BY lo", (kind,))
    return [Segment(n, lo, hi) for n, lo, hi in rows]


def put_letter(db: sqlite3.Connection, letter: Letter) -> int:
    """Insert a letter row; its number (what passages refer to)."""
    date = letter.date.isoformat() if letter.date else None
    row = (letter.id, letter.sha256, letter.source, letter.title, date, dossier_of(letter), letter.content_key)
    cursor = db.execute(
        "INSERT INTO letters (id, sha256, source, title, date, dossier, content, record)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*row, json.dumps(records.letter(letter), ensure_ascii=False)),
    )
    return int(cursor.lastrowid or 0)


def put_passages(db: sqlite3.Connection, num: int, first: int, passages: Sequence[Passage]) -> None:
    rows = [(first + i, num, p.id, json.dumps(records.passage(p), ensure_ascii=False)) for i, p in enumerate(passages)]
    db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?)", rows)
    db.executemany(
        "INSERT INTO fts (rowid, stems) VALUES (?, ?)",
        [(first + i, stemmed(p.indexed_text)) for i, p in enumerate(passages)],
    )


def put_sentences(db: sqlite3.Connection, rows: Sequence[tuple[int, int, int, int]]) -> None:
    db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?)", rows)


def drop_letter(db: sqlite3.Connection, letter_id: str) -> list[int] | None:
    """Delete a letter's rows and mark its passage keys deleted; the keys, or None if absent."""
    found = db.execute("SELECT num FROM letters WHERE id = ?", (letter_id,)).fetchone()
    if found is None:
        return None
    keys = [k for (k,) in db.execute("SELECT key FROM passages WHERE letter = ?", found)]
    db.executemany("DELETE FROM fts WHERE rowid = ?", [(k,) for k in keys])
    db.executemany("DELETE FROM sentences WHERE passage = ?", [(k,) for k in keys])
    db.execute("DELETE FROM passages WHERE letter = ?", found)
    db.execute("DELETE FROM letters WHERE num = ?", found)
    db.executemany("INSERT OR IGNORE INTO deleted VALUES (?)", [(k,) for k in keys])
    return keys


def deleted(db: sqlite3.Connection) -> list[int]:
    return [k for (k,) in db.execute("SELECT key FROM deleted")]


def letter_numbers(db: sqlite3.Connection, where: Where) -> list[int]:
    """Numbers of the letters the filter accepts."""
    sql, args = ["SELECT num FROM letters WHERE 1"], []
    if where.letters:
        sql.append(f"AND id IN ({','.join('?' * len(where.letters))})")
        args += list(where.letters)
    if where.dossier:
        sql.append("AND dossier = ?")
        args.append(where.dossier)
    if where.date_from or where.date_to:
        sql.append("AND date IS NOT NULL")
    if where.date_from:
        sql.append("AND date >= ?")
        args.append(where.date_from.isoformat())
    if where.date_to:
        sql.append("AND date <= ?")
        args.append(where.date_to.isoformat())
    return [n for (n,) in db.execute(" ".join(sql), args)]


def letter_days(db: sqlite3.Connection) -> np.ndarray:
    """The date of every letter as a day number (date.toordinal(); 0: undated), indexed by the
    letter's number: what a date filter compares."""
    rows = db.execute("SELECT num, date FROM letters").fetchall()
    days = np.zeros(max((n for n, _ in rows), default=0) + 1024, dtype=np.int32)
    for num, date in rows:
        days[num] = dt.date.fromisoformat(date).toordinal() if date else 0
    return days


def lexical(db: sqlite3.Connection, words: Sequence[str], k: int | None, lo: int = 0) -> list[tuple[int, float]]:
    """(key, BM25 score) of the passages with keys from `lo` holding any of the stemmed words,
    best first: the best k, or all of them if k is None."""
    if not words:
        return []
    match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
    sql = "SELECT rowid, -bm25(fts) AS score FROM fts WHERE fts MATCH ? AND rowid >= ? ORDER BY score DESC, rowid"
    rows = db.execute(sql + ("" if k is None else f" LIMIT {int(k)}"), (match, lo))
    return [(int(key), float(score)) for key, score in rows if score > 0]


def passages(db: sqlite3.Connection, keys: Sequence[int]) -> dict[int, Passage]:
    found: dict[int, Passage] = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        sql = f"SELECT key, record FROM passages WHERE key IN ({','.join('?' * len(chunk))})"
        found.update((k, records.passage_from(json.loads(r))) for k, r in db.execute(sql, chunk))
    return found


def iter_passages(db: sqlite3.Connection) -> Iterator[tuple[int, Passage]]:
    for key, record in db.execute("SELECT key, record FROM passages ORDER BY key"):
        yield int(key), records.passage_from(json.loads(record))


def letter(db: sqlite3.Connection, letter_id: str) -> Letter | None:
    row = db.execute("SELECT record FROM letters WHERE id = ?", (letter_id,)).fetchone()
    return records.letter_from(json.loads(row[0])) if row else None


def summaries(db: sqlite3.Connection, ids: Sequence[str] | None = None) -> dict[str, dict]:
    sql = (
        "SELECT l.id, l.sha256, l.source, l.title, (SELECT count(*) FROM passages p WHERE p.letter = l.num) "
        "FROM letters l"
    )
    args: list[str] = []
    if ids is not None:
        sql += f" WHERE l.id IN ({','.join('?' * len(ids))})"
        args = list(ids)
    rows = db.execute(sql + " ORDER BY l.id", args)
    return {i: {"sha256": s, "source": src, "title": t, "passages": n} for i, s, src, t, n in rows}
