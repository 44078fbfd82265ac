"""Questions about a whole document: "What is this article about?", "Summarize the report".

Such a question shares no words with the sentence that answers it, so retrieval returns
whatever matches "article" and the answerer, finding nothing that answers, abstains, which
is the wrong reply when the document is right there. A news text, a report or an
encyclopedia entry says what it is about in its first sentences (the lede), and the
usual extractive summary is those sentences. So an overview question is answered from the
start of the document it means: the one its remaining words name (title or file name), the
one the user restricted the question to, the only one, or else the one added last (the
upload the user just asked about in the chat). "What are these documents about?" gets the
first sentence of each (the latest first, up to :data:`MAX_DOCUMENTS`).

A question that says "summarize" but asks about something in particular ("Summarize what
Coale said about prisoners") is an ordinary question, answered by retrieval as usual.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.citations import is_caption, is_closed, is_not_content, is_page_furniture
from qa.lexical import content_stems, question_names, stem
from qa.retrieval import named_document, selected_documents
from qa.store import Snapshot

MAX_DOCUMENTS = 5

_DOC_NOUNS = (
    r"(?:article|document|story|text|piece|report|paper|page|file|release|column|interview|post|essay|entry|transcript|pdf|upload)"
)
OVERVIEW_RE = re.compile(
    rf"\b(?:summari[sz]e|summary|tl;?\s?dr|gist|overview|synopsis|recap)\b"
    # "Sum up the report", not "How did Rourke sum up the defeat?" (what someone said)
    rf"|^\W*(?:(?:please|can\s+you|could\s+you)\s+)*sum\s+(?:it\s+)?up\b"
    rf"|\bwhat(?:[’']s|\s+is|\s+was|\s+are|\s+were)\s+(?:this|that|the|these|those|my|all|all\s+the|each|each\s+of\s+the)\s+(?:[\w’'-]+\s+){{0,3}}?{_DOC_NOUNS}s?\s+(?:[\w’'-]+\s+){{0,3}}?about\b"
    rf"|\bwhat\s+(?:does|do|did)\s+(?:this|that|the|these|those)\s+(?:[\w’'-]+\s+){{0,3}}?{_DOC_NOUNS}s?\s+(?:say|cover|discuss|describe|report)\s*[?.!]*\s*$"
    # "What are the main points (of the report)?", not "... one of the main topics studied in X"
    rf"|^\W*(?:what\s+(?:are|were|is|was)\s+)?(?:the\s+|its\s+)?(?:main|key)\s+(?:points?|ideas?|topics?|story|takeaways?|messages?|facts|findings)"
    rf"(?:\s+(?:of|in|from)\s+(?:this|that|the|these|those)\s+(?:[\w’'-]+\s+){{0,2}}?{_DOC_NOUNS}s?)?\W*$",
    re.I,
)
# Who wrote a document and when it came out are facts about it, not in its sentences: a
# byline or dateline near the top says them, else the file's metadata (HTML, PDF, DOCX).
AUTHOR_RE = re.compile(
    rf"\bwho\s+(?:wrote|authored|penned|reported)\s+(?:(?:this|it)\s*[?.!]*\s*$|(?:this|that|the)\s+(?:[\w’'-]+\s+){{0,2}}?{_DOC_NOUNS}\b)"
    rf"|\bwho\s+(?:is|was)\s+the\s+(?:author|writer|reporter|columnist)\b(?!\s+(?:of|who)\s+(?!(?:this|that|the)\s+{_DOC_NOUNS}))"
    rf"|\b(?:author|writer)\s+of\s+(?:this|that|the)\s+{_DOC_NOUNS}\b",
    re.I,
)
PUBLISHED_RE = re.compile(
    rf"\bwhen\s+(?:was|is)\s+(?:this|it|(?:this|that|the)\s+(?:[\w’'-]+\s+){{0,2}}?{_DOC_NOUNS})\s+"
    r"(?:published|written|dated|released|posted|issued)\b"
    rf"|\b(?:publication|release)\s+date\b|\bwhat\s+(?:is|was)\s+the\s+date\s+of\s+(?:this|that|the)\s+{_DOC_NOUNS}\b",
    re.I,
)


def document_fact(question: str) -> str | None:
    """"author" or "published" for a question about who wrote a document or when it came out."""
    if AUTHOR_RE.search(question):
        return "author"
    if PUBLISHED_RE.search(question):
        return "published"
    return None


_PLURAL_RE = re.compile(rf"\b(?:{_DOC_NOUNS}s|all|each)\b", re.I)
# Words that only say "tell me what the document is about"; any other word narrows the question.
_REQUEST_WORDS = frozenset(
    stem(w)
    for w in (
        "summarize summarise summary summaries summarized sum up tldr tl dr gist overview synopsis recap main key "
        "point points idea ideas topic topics story stories takeaway takeaways message messages facts findings about "
        "article articles document documents doc docs text texts piece pieces report reports paper papers page pages "
        "file files release releases column columns interview interviews post posts essay essays entry entries "
        "transcript transcripts pdf upload uploaded cover covers discuss discusses describe describes say says "
        "give tell brief briefly short quick quickly few sentences sentence please whole entire overall new latest "
        "just last recent me us you i we can could would will it its this that these those what which "
        "who wrote written write writer author authored penned reported reporter columnist when published "
        "publication dated date released release posted issued out"
    ).split()
)


# "Summarize", "the main points", "a recap" ask for more than what the document is about:
# the opening paragraph rather than its first sentence. ("tl;dr" and "the gist" ask for less.)
SUMMARY_RE = re.compile(
    r"\b(?:summari[sz]e|summary|recap|synopsis|overview|(?:main|key)\s+(?:points?|ideas?|takeaways?|facts|findings))\b"
    r"|^\W*(?:(?:please|can\s+you|could\s+you)\s+)*sum\s+(?:it\s+)?up\b",
    re.I,
)


def is_overview_question(question: str) -> bool:
    return bool(OVERVIEW_RE.search(question))


def is_summary_request(question: str) -> bool:
    """An overview question that asks for a summary, which gets the longer opening."""
    return is_overview_question(question) and bool(SUMMARY_RE.search(question))


def overview_documents(snapshot: Snapshot, question: str, documents: Sequence[str] | None = None) -> list[int]:
    """The documents an overview question is about, most relevant first; [] when it is not one
    (not an overview question, or one whose other words name no document)."""
    if not (is_overview_question(question) or document_fact(question)) or not snapshot.documents:
        return []
    rows = selected_documents(snapshot, documents) if documents else list(range(len(snapshot.documents)))
    if not rows:
        return []
    latest_first = sorted(rows, key=lambda i: (-snapshot.documents[i].indexed_at, -i))
    rest = [s for s in content_stems(question) if s not in _REQUEST_WORDS]
    if rest:  # "Summarize the ferry article": the document whose title or file name has those words
        def named(i: int) -> int:
            d = snapshot.documents[i]
            return len(set(rest) & set(content_stems(f"{d.title} {re.sub(r'[_./-]+', ' ', d.source)}")))

        best = max(latest_first, key=named)
        if named(best) > 0 and 2 * named(best) >= len(set(rest)):
            return [best]
        # "What is the article by Ellen Marsh about?": the other words are names that only
        # one document's text holds, though its title and file name do not.
        if set(rest) <= question_names(question):
            doc = named_document(snapshot, question)
            if doc is not None and doc in rows:
                return [doc]
        return []
    if _PLURAL_RE.search(question) and not document_fact(question):
        return latest_first[:MAX_DOCUMENTS]
    return latest_first[:1]


def lede(snapshot: Snapshot, doc_idx: int, limit: int, sentences: int = 2) -> list[int]:
    """The document's first body sentences (headline, byline, dateline and photo caption
    skipped), as many as fit ``limit`` characters, up to ``sentences``; at least one."""
    out: list[int] = []
    span = snapshot.doc_sentences(doc_idx)
    for sid in span:
        text = snapshot.sentence_text(sid).strip()
        credited = sid + 1 in span and is_page_furniture(snapshot.sentence_text(sid + 1))  # a caption, then "Photo: ..."
        if (
            not is_closed(text) or len(text.split()) < 6 or is_not_content(text)
            or is_caption(text) or credited
        ):
            if out:
                break  # the lede is contiguous: a heading after it starts another section
            continue
        if out and int(snapshot.sentences[sid, 1]) - int(snapshot.sentences[out[0], 0]) > limit:
            break
        out.append(sid)
        if len(out) >= sentences:
            break
    return out


# "By Ellen Marsh, Coast Correspondent", "Opinion | Halvard Senn, economics columnist": a
# short line of its own; "By Wednesday morning, 31 ships were anchored ..." is a sentence.
_BYLINE_RE = re.compile(
    r"^[ \t]*(?:(?:[Bb]y|[Ww]ritten\s+by|[Ww]ords\s+by|[Rr]eported\s+by)\s+[A-Z]"
    r"|(?i:opinion|analysis|comment|column)\s*[|:—–-]\s*[A-Z])[^\n]{0,80}(?<![.!?”\"])[ \t\r]*$",
    re.M,
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|"
    r"nov(?:ember)?|dec(?:ember)?)"
)
_DATE_IN_TEXT = re.compile(
    rf"\b(?:\d{{1,2}}\s+{_MONTH}\.?,?\s+\d{{4}}|{_MONTH}\.?\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})\b", re.I
)
OPENING_CHARS = 600  # where a byline or dateline sits: before or just inside the lede


def fact_span(snapshot: Snapshot, doc_idx: int, fact: str) -> tuple[int, int] | None:
    """The line near the top of the document that states the fact: a byline ("By Ellen
    Marsh", "Opinion | Halvard Senn, economics columnist", or a line naming the metadata's
    author) or a dated line ("DELLSWORTH, 3 March 2026 — ..."); None when there is none."""
    doc = snapshot.documents[doc_idx]
    head = doc.text[:OPENING_CHARS]

    def line_around(at: int) -> tuple[int, int]:
        start = head.rfind("\n", 0, at) + 1
        end = head.find("\n", at)
        return start, end if end >= 0 else len(head)

    def trimmed(start: int, end: int) -> tuple[int, int] | None:
        while start < end and doc.text[start].isspace():
            start += 1
        while end > start and doc.text[end - 1].isspace():  # "\r" of a "\r\n" line end
            end -= 1
        return (start, end) if end > start else None

    if fact == "author":
        m = _BYLINE_RE.search(head)
        if m is not None:
            return trimmed(m.start(), m.end())
        at = head.lower().find(doc.author.lower()) if doc.author else -1
        if at < 0:
            return None
        start, end = line_around(at)
        return trimmed(start, end) if end - start <= 200 else None  # a byline, not a paragraph naming them
    m = _DATE_IN_TEXT.search(head)
    if m is None:
        return None
    start, line_end = line_around(m.start())
    # a long first paragraph ("DELLSWORTH, 3 March 2026 — The council ..."): its first sentence
    sentence_end = re.search(r"[.!?](?=\s|$)", doc.text[m.end() : line_end])
    return trimmed(start, m.end() + sentence_end.end() if sentence_end else line_end)
