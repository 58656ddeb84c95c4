"""Where the tests find the project's files (a module of its own: two conftest.py files
would shadow each other when imported by name)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"
