"""Who may change the index through the app. Checked on the server in every write
endpoint (upload, replace, remove, an uploaded evaluation file), however it is called:
from the page, through gradio_client, or by a raw `queue/join` with its fn_index.

- `RAG_APP_USERS="name:password,..."`: the app asks for a login (Gradio auth) and a
  logged-in user may write; uploads are marked with the user's name.
- `RAG_APP_WRITE_TOKEN=...`: reading is open; writing needs the token (the field
  "Schrijftoken" in the page, or the `token` parameter of the API).
- Neither: writing is allowed only when the app listens on loopback (127.0.0.1, ::1,
  localhost); on any other address the app is read-only and says so at start.
- `RAG_APP_READ_ONLY=1`: no writes at all.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from rag.errors import RagError
from rag.settings import AppSettings


class AccessDenied(RagError):
    """A write without the role that may write."""


@dataclass(frozen=True)
class Access:
    """The write policy of one running app."""

    users: tuple[tuple[str, str], ...] = ()
    token: str = ""
    loopback: bool = True
    read_only: bool = False

    @classmethod
    def from_settings(cls, settings: AppSettings, host: str) -> Access:
        """The policy for an app with these settings listening on host."""
        users = []
        for pair in settings.users:
            name, sep, password = pair.partition(":")
            if not sep or not name or not password:
                raise RagError(f"RAG_APP_USERS: '{name or pair}' needs the form name:password.")
            users.append((name, password))
        return cls(tuple(users), settings.write_token, is_loopback(host), settings.read_only)

    @property
    def writable(self) -> bool:
        """Can anyone write at all (so the page shows the upload and remove controls)?"""
        return not self.read_only and bool(self.users or self.token or self.loopback)

    @property
    def needs_token(self) -> bool:
        return bool(self.token) and not self.read_only

    def describe(self) -> str:
        """One line for the start of the app: who may write."""
        if self.read_only:
            return "Alleen-lezen: RAG_APP_READ_ONLY staat aan; niemand kan brieven toevoegen of verwijderen."
        if self.users:
            return f"Schrijven: na inloggen ({len(self.users)} gebruiker(s) in RAG_APP_USERS)."
        if self.token:
            return "Schrijven: met het schrijftoken (RAG_APP_WRITE_TOKEN); lezen is open."
        if self.loopback:
            return "Schrijven: open, want de app luistert alleen op deze computer (loopback)."
        return (
            "Alleen-lezen: de app luistert op het netwerk zonder RAG_APP_USERS of RAG_APP_WRITE_TOKEN; "
            "uploaden, vervangen en verwijderen staan uit."
        )

    def writer(self, token: str | None, username: str | None) -> str:
        """Who writes (for the letter's origin); AccessDenied if this caller may not."""
        if self.read_only:
            raise AccessDenied("read-only app", nl="Deze app is alleen-lezen: er kan niets worden gewijzigd.")
        if self.users and username and any(hmac.compare_digest(username, name) for name, _ in self.users):
            return username
        if self.token and token and hmac.compare_digest(token.encode(), self.token.encode()):
            return "token"
        if self.users or self.token:
            need = "in te loggen" if self.users and not self.token else "het schrijftoken te geven"
            raise AccessDenied("not allowed to write", nl=f"Niet toegestaan: wijzigen vraagt erom {need}.")
        if self.loopback:
            return "lokaal"
        raise AccessDenied(
            "read-only: no writers configured",
            nl="Deze app is alleen-lezen: de beheerder heeft geen schrijfrechten ingesteld "
            "(RAG_APP_USERS of RAG_APP_WRITE_TOKEN).",
        )


def is_loopback(host: str) -> bool:
    """Does an app listening on host accept connections from this computer only?"""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
