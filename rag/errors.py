"""The project's errors. Every message names the file or letter and says what to do."""


class RagError(Exception):
    """Base of every error a user can cause; the CLI and app show its message.
    `nl` is the message in Dutch where one is given (the app speaks Dutch)."""

    def __init__(self, message: str, nl: str | None = None) -> None:
        super().__init__(message)
        self.nl = nl or message


class CorpusError(RagError):
    """A letter file cannot be read or parsed."""


class IndexError_(RagError):
    """The index is missing, damaged, or was built with other settings."""


class EvalError(RagError):
    """An evaluation file is malformed or refers to something unknown."""


class SettingsError(RagError):
    """A setting or environment variable has an unusable value."""


class LLMError(RagError):
    """The configured language model cannot be reached or loaded."""


class FetchError(RagError):
    """The official repository (or the one configured) cannot be searched or read."""


class QuestionError(RagError):
    """A question is empty or longer than the limit."""
