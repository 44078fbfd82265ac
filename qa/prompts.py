"""Prompt files -> chat messages, and which passage text goes into the answer prompt.

The prompts live in ``prompts/*.md`` (``qa.settings.PROMPTS_DIR``) so they can be read and
changed without touching code. A prompt file has a ``## system`` and a ``## user`` section;
``$name`` placeholders are filled with :class:`string.Template`, which inserts passage text
verbatim (a ``{`` or ``$`` inside a document is never re-read as a template).

Passages are marked as data: each sits in ``<passage n=..>`` tags, and tag look-alikes
inside document text are defused so a document cannot close its own passage early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from string import Template

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from qa.answerers.features import leaves_quotation_open, opens_quotation
from qa.citations import is_not_content
from qa.lexical import one_line
from qa.settings import PROMPTS_DIR
from qa.store import Snapshot

_SECTION_RE = re.compile(r"^## (system|user)\s*$", re.M)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_TAG_RE = re.compile(r"<(/?\s*passage)", re.I)
CHARS_PER_TOKEN = 4.0  # English text in BPE vocabularies; only used to budget the prompt


@dataclass(frozen=True)
class PromptTemplate:
    system: str
    user: str

    def messages(self, **values: str) -> list[BaseMessage]:
        return [
            SystemMessage(Template(self.system).safe_substitute(values)),
            HumanMessage(Template(self.user).safe_substitute(values)),
        ]


@lru_cache(maxsize=8)
def load_prompt(name: str, folder: str = str(PROMPTS_DIR)) -> PromptTemplate:
    """``prompts/<name>.md`` split into its system and user sections (HTML comments dropped)."""
    path = Path(folder) / f"{name}.md"
    text = _COMMENT_RE.sub("", path.read_text(encoding="utf-8"))
    parts = _SECTION_RE.split(text)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise ValueError(f"{path}: a prompt file needs a '## system' and a '## user' section")
    return PromptTemplate(sections["system"], sections["user"])


@dataclass
class PromptPassage:
    """Passage ``n`` of the prompt: which retrieved hit it is and which of its sentences it shows."""

    n: int
    rank: int  # index into retrieval.hits
    chunk: int
    sentences: list[int] = field(default_factory=list)
    text: str = ""


def _clean(text: str) -> str:
    return _TAG_RE.sub(lambda m: "‹" + m.group(1), one_line(text))


def carries_on(text: str, next_text: str) -> bool:
    """``next_text`` goes on from ``text``: a quotation that follows it, or one ``text`` left open."""
    return opens_quotation(next_text) or leaves_quotation_open(text)


def select_passages(
    snapshot: Snapshot, hits: list, ranked_sentences: list[tuple[int, int]], budget_tokens: int
) -> list[PromptPassage]:
    """The evidence the model reads: whole passages, or (with a budget) their best sentences.

    ``ranked_sentences`` is ``(sentence id, hit rank)`` best first, from the extractive
    ranker. Prompt processing dominates time to first token on a CPU (~160 tokens/s for a
    1.5B model on 2 cores), so by default only the top-ranked sentences are sent, kept in
    document order and grouped under their passage; verification still searches the whole
    passages. ``budget_tokens=0`` sends every passage whole.
    """
    chosen: dict[int, set[int]] = {}
    if budget_tokens <= 0 or not ranked_sentences:
        for rank, hit in enumerate(hits):
            first, last = int(snapshot.chunks[hit.chunk, 2]), int(snapshot.chunks[hit.chunk, 3])
            chosen[rank] = set(range(first, last + 1))
    else:
        used = 0.0
        taken: set[int] = set()

        def cost_of(sid: int) -> float:
            start, end = snapshot.sentences[sid]
            return (int(end) - int(start)) / CHARS_PER_TOKEN + 8  # + tags, ellipses

        for sid, rank in ranked_sentences:
            if sid in taken:
                continue
            # A sentence goes in with the one that carries on from it: the quotation after
            # "She also had a message for the shareholders." is what was said, and it shares
            # no words with the question, so the ranker alone seldom picks it.
            group = [sid]
            last = int(snapshot.chunks[hits[rank].chunk, 3])
            while group[-1] < last and len(group) < 3:
                text, nxt = snapshot.sentence_text(group[-1]), snapshot.sentence_text(group[-1] + 1)
                if not carries_on(text, nxt) or is_not_content(nxt):  # nor does the ranker
                    break
                group.append(group[-1] + 1)
            group = [g for g in group if g not in taken]
            cost = sum(map(cost_of, group))
            if chosen and used + cost > budget_tokens:
                if len(group) > 1:  # the sentence alone may still fit
                    group, cost = group[:1], cost_of(sid)
                if used + cost > budget_tokens:
                    continue  # a shorter, lower-ranked sentence may still fit
            chosen.setdefault(rank, set()).update(group)
            taken.update(group)
            used += cost
    out: list[PromptPassage] = []
    for rank in sorted(chosen):
        hit = hits[rank]
        sids = sorted(chosen[rank])
        pieces: list[str] = []
        for i, sid in enumerate(sids):
            doc = snapshot.documents[int(snapshot.sentence_doc[sid])]
            s, e = snapshot.sentences[sid]
            if i and sid != sids[i - 1] + 1:
                pieces.append("…")
            pieces.append(_clean(doc.text[int(s) : int(e)]))
        out.append(PromptPassage(len(out) + 1, rank, hit.chunk, sids, " ".join(pieces)))
    return out


def format_passages(snapshot: Snapshot, passages: list[PromptPassage]) -> str:
    """Passages in tags; a document's title (cut short) only on its first passage, to save prompt tokens."""
    blocks = []
    seen: set[int] = set()
    for p in passages:
        doc = int(snapshot.chunk_doc[p.chunk])
        attrs = f'n="{p.n}"'
        if doc not in seen:
            seen.add(doc)
            title = _clean(snapshot.documents[doc].title).replace('"', "'")
            attrs += f' title="{title[:77] + "..." if len(title) > 80 else title}"'
        blocks.append(f"<passage {attrs}>\n{p.text}\n</passage>")
    return "\n\n".join(blocks)


def answer_messages(snapshot: Snapshot, passages: list[PromptPassage], question: str) -> list[BaseMessage]:
    return load_prompt("answer").messages(passages=format_passages(snapshot, passages), question=" ".join(question.split()))


def condense_messages(history: list[tuple[str, str]], question: str, max_turns: int = 3, max_chars: int = 600) -> list[BaseMessage]:
    """The last few turns (answers cut short: they only need to name what 'he' or 'it' is)."""
    lines = []
    for user, assistant in history[-max_turns:]:
        if user.strip():
            lines.append(f"User: {' '.join(user.split())}")
        if assistant.strip():
            text = " ".join(re.sub(r"\[\d+\]", "", assistant).split())
            lines.append(f"Assistant: {text[:max_chars]}")
    return load_prompt("condense").messages(history="\n".join(lines), question=" ".join(question.split()))


def check_messages(question: str, answer: str, quotes: list[str]) -> list[BaseMessage]:
    """The answer check's prompt: the cited quotes (as data), the question and the answer without markers."""
    from qa.citations import strip_all_markers

    evidence = "\n".join(f"<passage>{_clean(q)}</passage>" for q in quotes)
    return load_prompt("check").messages(evidence=evidence, question=" ".join(question.split()), answer=strip_all_markers(answer))
