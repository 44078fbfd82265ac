"""Offline, citation-exact question answering over your documents.

``from qa import Assistant``; see README.md for the CLI (``qa``) and the chat UI.
"""

from qa import settings as _settings  # noqa: F401  (offline environment before any model import)
from qa.answer import Answer, Citation, Passage, Status
from qa.assistant import Assistant, QuestionError
from qa.settings import Settings, load_settings

__all__ = ["Answer", "Assistant", "Citation", "Passage", "QuestionError", "Settings", "Status", "load_settings"]
__version__ = "0.1.0"
