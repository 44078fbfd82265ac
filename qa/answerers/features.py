"""Features of a candidate answer sentence, shared by sentence ranking and answerability.

Kept apart from the answerer so that the training script (``scripts/train_answerer.py``)
computes exactly the same numbers as the running system: the learned weights are only
valid for these definitions.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qa.citations import is_caption
from qa.lexical import STOPWORDS, content_stems, question_names, stem, words
from qa.phrasing import asked_part

PRONOUN_START = re.compile(r"^\W*(he|she|they|it|his|her|their|its|this|that|these|those|him|them)\b", re.I)
# A sentence that leans on the one before within its first words ("Among them, ...", "Of
# those, ...", "In that case ...", "But he ...").
ANAPHOR_OPENING = re.compile(
    r"^\W*(?:[\w’'-]+,?\s+){0,2}(?:he|she|they|it|his|her|their|its|this|that|these|those|him|them|such)\b", re.I
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tomorrow|tonight"
DATE_RE = re.compile(
    rf"\b(?:1[5-9]\d\d|20\d\d|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})|(?:{_MONTHS})\b|{_DAYS}|"
    r"(?:last|next|this|previous)\s+(?:week|month|year|decade|century)|\d+s\b|century|decade|ago|since|until|before|after|during|"
    r"\d{1,2}:\d{2}|o[’']clock|[ap]\.m\.|midnight|noon)",
    re.I,
)
NUMBER_RE = re.compile(
    r"(?:[$€£¥]\s?\d|\d[\d,.]*\s*(?:%|percent|per cent|million|billion|thousand|hundred)|\b\d[\d,.]*\b|"
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|thousand|million|billion|half|twice|several|few)\b)",
    re.I,
)
NAME_RE = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*")
PLACE_RE = re.compile(
    r"\b(?:in|at|from|to|near|into|across|off|outside|inside|along|beside|within|throughout|on|by|through|towards?)\s+(?:the\s+)?[A-Z][\w’'-]+",
    re.U,
)
QUOTE_RE = re.compile(r"[“\"]")


def opens_quotation(text: str) -> bool:
    """The sentence starts with a quotation mark: a quotation (or the next part of one)."""
    return text.lstrip()[:1] in ("“", '"')


def leaves_quotation_open(text: str) -> bool:
    """The sentence opens a quotation it does not close: the next sentence goes on with it."""
    return text.count("“") > text.count("”")


def quotation_state(text: str, state: bool = False) -> bool:
    """Whether a quotation is open after ``text``, given whether one was open before it: the
    same question as :func:`leaves_quotation_open`, carried across sentences (a quotation may
    run over several) and with straight quotes too."""
    for ch in text:
        if ch == "“":
            state = True
        elif ch == "”":
            state = False
        elif ch == '"':
            state = not state
    return state
SAY_RE = re.compile(r"\b(?:say|said|says|told|claim|claimed|insist|insisted|state|stated|describe|described|call|called|argue|argued|add|added|note|noted|offer|offered|updated|repeated|remark|comment|commented|suggest|suggested|think|believe)\b", re.I)

# Finer kinds of "number" question: "How old is she?" is answered by "Strauss, 67, ...", not by
# "babies between six and 11 months old"; "How much did it cost?" by an amount of money.
_SMALL = r"(?:\d[\d,.]*|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|few|many|\w+-)"
# An amount of money names its currency: a sign, an ISO code, or the currency's name. The
# world's currencies, not only the few the training texts use ("6.3 billion marks", "85,000
# crowns", "1,200 rupees" are all answers to "how much").
_CURRENCY = (
    r"dollars?|euros?|pounds?|sterling|pence|cents?|crowns?|francs?|yen|yuan|renminbi|rupees?|rupiah|pesos?|"
    r"marks?|markkaa?|kronor|krona|krone|kroner|kronur|lira|lire|liras|dinars?|dirhams?|riyals?|rials?|rubles?|"
    r"roubles?|rand|reais|reals?|won|baht|ringgits?|shekels?|shillings?|zlotys?|zloty|forints?|koruna|korun|lei|leu|"
    r"leva|lev|hryvnias?|naira|cedis?|kwacha|birr|taka|dong|soles|bolivars?|guilders?|florins?|drachmas?|escudos?|"
    r"pesetas?|ducats?|thalers?|talents?|sovereigns?|guineas?"
)
_ISO_MONEY = r"USD|EUR|GBP|JPY|CHF|CNY|RMB|INR|SEK|NOK|DKK|ISK|AUD|CAD|NZD|HKD|SGD|ZAR|BRL|MXN|RUB|TRY|PLN|KRW"
_SCALE = r"thousand|million|billion|trillion|bn|mn|m|k"
NUMBER_KINDS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("age", re.compile(r"\bhow old\b|\bwhat age\b|\bat what age\b", re.I),
     re.compile(r"\b[A-Z][\w’'-]+,\s\d{1,3},|\b\d{1,3}-year-old\b|\baged?\s\d{1,3}\b|\bage of \d{1,3}\b|\b(?:was|is|died at)\s\d{1,3}\s*[.,;]")),
    ("percent", re.compile(r"\bwhat (?:percentage|percent|share|proportion|fraction|rate)\b|\bhow (?:much|many) percent", re.I),
     re.compile(r"\d[\d,.]*\s*(?:%|percent\b|per cent\b|percentage points?\b)|\b(?:half|a third|two-thirds|a quarter|three-quarters)\b", re.I)),
    ("money", re.compile(r"\bhow much\b.*\b(?:cost|costs|pay|paid|pays|spend|spent|worth|price|fee|earn|earned|raise|raised|fine|fined|charge|charged|budget|salary|make|made|lose|lost|invest|invested|value|valued|owe|receive|received|grant|bond|loan|fund)|\bhow much money\b|\bwhat (?:price|fee|amount|sum|salary)\b", re.I),
     re.compile(rf"[$€£¥₹₩₽₺₪]\s?\d|\b(?:{_ISO_MONEY})\s?\d|\b\d[\d,.]*\s*(?:{_SCALE})?\s*(?:{_CURRENCY}|{_ISO_MONEY})\b", re.I)),
    ("duration", re.compile(r"\bhow long\b|\bfor how many (?:days|weeks|months|years|hours|minutes)\b", re.I),
     re.compile(rf"\b{_SMALL}[\s-]?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries)\b|\bovernight\b", re.I)),
)


_CHANGE_RE = re.compile(r"\b(?:rise|rises|rose|raise|increase|increased|cut|cuts|fall|fell|drop|dropped|grow|grew|growth|jump|jumped|decline|declined|shrink|shrank)\b", re.I)


def number_kind(question: str) -> tuple[str, re.Pattern[str]] | None:
    """The finer kind of a number question, and the pattern its answer takes; None: any number."""
    for kind, asks, answer in NUMBER_KINDS:
        if asks.search(question):
            if kind == "money" and _CHANGE_RE.search(question):
                return None  # "How much of a raise?" is often answered in percent
            return kind, answer
    return None


QTYPES = ("who", "when", "number", "where", "why", "how", "quote", "which", "what", "yesno", "identity", "other")


# The question's own wh-word: at the start, maybe after "and"/"so" or a preposition ("To whom",
# "By when"), or after an opening clause ("According to the governor, when ..."). A wh-word
# further in opens a relative clause ("What did investigators find when they looked?",
# "What would she tell residents who feel let down?") and says nothing about the answer.
_HEAD_WH = re.compile(
    r"(?:^|^(?!\W*(?:what|which|how)\b)[^,]{0,60},\s*)\W*(?:(?:and|so|but|then|or)\s+)?"
    r"(?:(?:to|with|for|from|by|of|since|until|till|at|on|in)\s+)?(who(?:m|se)?|when|where|why)\b"
)


def _head_wh(q: str) -> str | None:
    m = _HEAD_WH.search(q)
    if m is None:
        return None
    return "who" if m.group(1).startswith("who") else m.group(1)


def question_type(question: str) -> str:
    question = asked_part(question)
    if identity_subject(question):
        return "identity"
    q = question.lower().strip()
    head = _head_wh(q)
    if re.search(r"\bhow (?:much|many|long|old|far|large|big|often)\b|\bwhat (?:percentage|percent|amount|number|share|proportion|sum)\b", q):
        return "number"
    if re.search(r"\b(?:what|how) did .+ (?:say|describe|call|claim|think|tell)|\bwhat does .+ (?:say|think|claim)|\bhow did .+ describe", q):
        return "quote"
    if head == "when" or re.search(r"\bwhat (?:year|day|date|month|time|century|decade)\b|\bwhich (?:year|day|date|month)\b", q):
        return "when"
    if head == "who":
        return "who"
    if head == "where" or re.search(r"\bwhat (?:country|city|place|state|nation)\b|\bwhich (?:country|city|place|state|nation)\b", q):
        return "where"
    if head == "why" or re.search(r"\bwhat (?:reason|caused)\b", q):
        return "why"
    if re.search(r"^\W*how\b", q):
        return "how"
    if re.search(r"\bwhich\b", q):
        return "which"
    if re.search(r"\bwhat\b", q):
        return "what"
    if re.match(r"^\W*(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should)\b", q):
        return "yesno"
    return "other"


_CALENDAR = frozenset((_MONTHS + "|" + _DAYS).split("|"))


def answer_spans(qtype: str, sentence: str, question: str) -> list[tuple[int, int]] | None:
    """Where the sentence holds a word of the kind the question asks for (a number, a date, a
    name, a place), beyond the question's own words; None for a question that asks for no such kind."""
    if qtype == "number":
        kind = number_kind(question)
        found = list(NUMBER_RE.finditer(sentence) if kind is None else kind[1].finditer(sentence))
    elif qtype == "when":
        found = list(DATE_RE.finditer(sentence))
    elif qtype == "who":
        found = list(NAME_RE.finditer(sentence))
    elif qtype == "where":  # "on Monday" is a day, not a place
        found = [m for m in PLACE_RE.finditer(sentence) if m.group(0).split()[-1].lower() not in _CALENDAR]
    else:
        return None
    qwords = set(words(question))
    return [m.span() for m in found if set(words(m.group(0))) - qwords]


def addresses(question: str, sentence: str) -> bool:
    """Whether a sentence can be an answer to the question at all: for a question after a
    number or a date, it states one the question does not (a date answers "how long" too);
    for any other, it says something the question does not. A small model answers "How old
    is Coale?" with a true, cited sentence about Coale and no age, and "Which sanctions did
    the United States lift on Belarus?" with "The United States lifted sanctions on
    Belarus.": verified, and no answer.
    (Names and places are not asked for here: a generated sentence may open with the name,
    where :data:`NAME_RE` does not look, and say a place in words the patterns miss.)"""
    qtype = question_type(question)
    qwords = set(words(question))
    if qtype in ("number", "when"):
        # "When?" - "between 1060 and 990 BC"; "How long?" - "until October"; but "How old?" is
        # not answered by "on Saturday"
        kind = number_kind(question) if qtype == "number" else None
        dates = qtype == "when" or (kind is not None and kind[0] == "duration")
        found = [*NUMBER_RE.finditer(sentence), *(DATE_RE.finditer(sentence) if dates else ())]
        # "one" is as often a pronoun or an article: "How old is the mayor?" - "The outgoing
        # mayor had one piece of advice for his successor."
        return any(set(words(m.group(0))) - qwords for m in found if m.group(0).lower() != "one")
    return bool(set(content_stems(sentence)) - set(content_stems(question)))


def type_match(qtype: str, sentence: str, question: str) -> float:
    """1.0 when the sentence holds a word of the kind the question asks for, beyond the question's own."""
    spans = answer_spans(qtype, sentence, question)
    if spans is not None:
        return float(bool(spans))
    if qtype == "why":
        return float(bool(re.search(r"\b(?:because|since|due to|as a result|in order to|so that|stem|reason|after|following|for)\b", sentence, re.I)))
    if qtype == "quote":
        return float(bool(QUOTE_RE.search(sentence) or SAY_RE.search(sentence)))
    if qtype == "identity":
        return float(describes(identity_subject(question), sentence))
    return 0.0


# Nouns for a position someone holds. A "who" question is often answered by a name in
# apposition with one ("the union's general secretary, Teodora Vance," / "Marisol Quenby,
# the county's chief health officer,") while the question names the role in other words
# ("Who heads the union?"), so neither the words nor the bare "a new name" match say so.
_ROLES = (
    "chief|executive|director|president|head|leader|minister|secretary|spokesman|spokeswoman|spokesperson|"
    "chair|chairman|chairwoman|chairperson|manager|mayor|governor|founder|commissioner|inspector|superintendent|"
    "officer|official|captain|coach|editor|owner|principal|dean|chancellor|judge|mediator|curator|conductor|"
    "ambassador|general"
)
_PROPER = r"[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*"
ROLE_NAME_RE = re.compile(
    rf"\b(?:{_ROLES})(?:\s+\w+)?,\s+(?:(?:Dr|Mr|Ms|Mrs|Prof)\.\s+)?{_PROPER}"  # role, Name
    rf"|{_PROPER},\s+(?:the|a|an|its|their|his|her)\s+(?:[\w’'-]+\s+){{0,3}}(?:{_ROLES})\b"  # Name, the ... role
)


def role_name(qtype: str, sentence: str, question: str) -> float:
    """1.0 for a "who" question when the sentence puts a name the question lacks beside a role."""
    if qtype != "who":
        return 0.0
    asked = {w.lower() for w in re.findall(r"[\w’'-]+", question)}
    return float(any(w.lower() not in asked for m in ROLE_NAME_RE.findall(sentence) for w in re.findall(r"[A-Z][\w’'-]+", m)))


# "Who is Coale?", "What is the Restwell Foundation?": the question names someone or
# something and asks what the documents say it is. The answer is the sentence that
# introduces it with a role, title or description ("Trump's special envoy for Belarus John
# Coale", "the Restwell Foundation, a charity that ..."); any other sentence about it
# ("Coale told reporters ...") matches the question's words as well and, for "who", holds
# "a name the question lacks" just as often, so without this the ranker picks at random.
_TITLES = (
    r"(?:Dr|Mr|Mrs|Ms|Mx|Prof|Professor|Sir|Dame|Lord|Lady|Rev|Reverend|Judge|Justice|President|Governor|"
    r"Mayor|Senator|General|Captain|Chief|Minister|Prime Minister|Chancellor|King|Queen|Prince|Princess)"
)
_NAME_LINK = r"(?:of|for|and|the|de|van|von|der|den|la|le|del|du|da|al|bin|y)"
_NAME = rf"(?:{_TITLES}\.?\s+)?[A-Z][\w’'.&-]*(?:\s+(?:{_NAME_LINK}\s+)*[A-Z0-9][\w’'.&-]*)*"
IDENTITY_RE = re.compile(
    r"^\W*(?:(?:and|so|but|then)\s+)?(?:"
    rf"(?:[Ww]ho|[Ww]hat)(?:[’']s|\s+(?:is|was|are|were))\s+(?:the\s+)?(?P<x>{_NAME})"
    rf"|[Ww]hat\s+(?:does|did|do)\s+(?:the\s+)?(?P<acronym>{_NAME})\s+stand\s+for"  # "What does FARC stand for?"
    r")\s*\??\s*$"
)
# Words of an organisation's name that other organisations share: "the Medwin Foundation"
# does not mention "the Restwell Foundation".
_GENERIC_NAME_WORDS = frozenset(
    "foundation university company council group bank ministry department party club association institute "
    "society trust agency office service services limited ltd inc plc corporation corp committee commission "
    "authority fund board centre center hospital school college city town county state river lake street road "
    "north south east west new national international royal united the of for and".split()
)
_COPULA_AFTER = re.compile(
    r"^\s*(?:is|was|has been|had been|became|becomes|remains|serves as|served as)\s+"
    r"(?:now\s+|also\s+|still\s+)?(?:a|an|the|one|its|his|her|their)\b"
)
_DESCRIPTOR = rf"(?:a|an|the|its|his|her|their|one|former|now|then|chief|head|deputy|senior|acting|interim|{_ROLES})\b"
# "Greve, 58, the harbour master", "Pellacourt (a maker of ...)"; not "Tarrant, who left ..."
_APPOSITION_AFTER = re.compile(rf"^\s*(?:\(\s*|,\s+(?:\d{{1,3}},\s+)?){_DESCRIPTOR}", re.I)
# "City finance director Owen Parrish", "Aurenne’s president, Mirela Castellan"
_ROLE_BEFORE = re.compile(
    rf"(?:\b(?:{_ROLES}|envoy|expert|analyst|scientist|professor|lawyer|researcher)|[a-z]+(?:ist|ian))\s*,?\s*$", re.I
)
# "the industrialist Oskar Lindvall", "the accounting firm Calloway Birch", "the American
# conservative outlet Newsmax": a noun phrase the name stands in apposition to.
_NOUN_BEFORE = re.compile(
    r"\b(?:the|a|an|its|their|his|her|[A-Z][\w’'-]*[’']s)\s+(?:[\w’'-]+\s+){0,3}(?P<noun>[a-z][\w’'-]+)\s+$"
)
_LINK_WORDS = frozenset(
    "between among against including like after before during via toward towards behind without within despite "
    "versus near beside amid over under about across along around per than whom whose nor yet".split()
)


@lru_cache(maxsize=4096)
def identity_subject(question: str) -> tuple[str, ...]:
    """The words of the name an identity question asks about (no title); () for other questions."""
    m = IDENTITY_RE.match(asked_part(question).strip())
    if m is None:
        return ()
    toks = [t for t in re.findall(r"[\w’'&-]+", m.group("x") or m.group("acronym")) if t[0].isupper() or t[0].isdigit()]
    while len(toks) > 1 and re.fullmatch(_TITLES, toks[0]):
        toks = toks[1:]
    return tuple(toks)


def _bare(word: str) -> str:
    """"Coale’s" -> "coale"."""
    return re.split(r"[’']", word.lower().rstrip("."))[0]


def _subject_runs(subject: tuple[str, ...], sentence: str) -> list[tuple[re.Match[str], int]]:
    """The runs of capitalised words that name the subject, each with the position (in the
    run's words) of the subject's first word there. A run names it when it holds one of its
    distinctive words ("Coale" for "John Coale", "Restwell" for "the Restwell Foundation")
    and no other given name in front of it ("Marta Oyelaran" is not "Marcus Oyelaran")."""
    names = [_bare(t) for t in subject]
    distinctive = {t for t in names if t not in _GENERIC_NAME_WORDS} or set(names)
    out = []
    for m in re.finditer(rf"[A-Z][\w’'.&-]*(?:\s+(?:{_NAME_LINK}\s+)*[A-Z0-9][\w’'.&-]*)*", sentence):
        run = [_bare(w) for w in m.group(0).split()]
        hits = [i for i, w in enumerate(run) if w in distinctive]
        if not hits:
            continue
        first = min((i for i, w in enumerate(run) if w in names), default=hits[0])
        if len(names) > 1 and first == hits[0] and first > 0 and names.index(run[first]) > 0:
            # only a later word of the name is here ("Oyelaran"): the word before must not be another given name
            prev = m.group(0).split()[first - 1]
            if not re.fullmatch(_TITLES, prev.rstrip(".")) and prev.lower() not in _ROLES.split("|"):
                continue
        out.append((m, first))
    return out


def mentions(subject: tuple[str, ...], sentence: str) -> bool:
    return bool(subject) and bool(_subject_runs(subject, sentence))


def describes(subject: tuple[str, ...], sentence: str) -> bool:
    """Whether the sentence says who or what the subject is: a title or role before the name
    ("Interior Minister Paul Ferrante", "City finance director Owen Parrish", "the industrialist
    Oskar Lindvall"), an apposition after it ("Greve, 58, the harbour master"), or a copula
    ("Pellacourt is a ..."). "Tarrant, who left the museum in January" is not one."""
    if not subject or is_caption(sentence):
        return False
    for m, first in _subject_runs(subject, sentence):
        before, after = sentence[: m.start()], sentence[m.end() :]
        lead = m.group(0).split()[0].rstrip(".")
        # "Rear Admiral Edda Vostrup", "envoy for Belarus John Coale"; at the start of a
        # sentence one capitalised word in front may just be the sentence's first ("Yesterday Coale")
        if first > 0 and (m.start() > 0 or first >= 2 or re.fullmatch(_TITLES, lead) or lead.lower() in _ROLES.split("|")):
            return True
        noun = _NOUN_BEFORE.search(before)
        if noun and any(w.lower() in STOPWORDS or w.lower() in _LINK_WORDS or SAY_RE.fullmatch(w) for w in noun.group(0).split()[1:]):
            noun = None  # "between the Trump administration and Maduro", "his country would accept Maduro"
        if _ROLE_BEFORE.search(before) or noun:
            return True
        if _COPULA_AFTER.match(after) or _APPOSITION_AFTER.match(after):
            return True
        # An acronym and its expansion: "Revolutionary Armed Forces of Colombia (FARC)", "FARC
        # (Revolutionary Armed Forces ...)"; not "Maduro (Americans probably don't want that)"
        acronym = len(subject) == 1 and len(subject[0]) > 1 and subject[0].isupper()
        if acronym and (
            (re.search(r"[A-Z][\w’'-]*\s*\(\s*$", before) and after.lstrip().startswith(")")) or re.match(r"^\s*\(\s*[A-Z]", after)
        ):
            return True
    return False


def new_name(sentence: str, question: str) -> float:
    """1.0 when the sentence names someone or something the question does not: the usual answer."""
    q = {w.lower() for w in re.findall(r"[\w’'-]+", question)}
    return float(any(w.lower() not in q for m in NAME_RE.findall(sentence) for w in m.split()))


@dataclass
class QuestionTerms:
    stems: list[str]  # in question order
    weights: dict[str, float]  # idf weight per distinct stem
    context_stems: set[str]  # from the conversation history (follow-ups)
    previous_stems: frozenset[str] = frozenset()  # the previous answer's, for a follow-up

    @property
    def total(self) -> float:
        return sum(self.weights.values()) or 1.0

    @property
    def bigrams(self) -> set[tuple[str, str]]:
        return set(zip(self.stems, self.stems[1:]))


def bigram_overlap(terms: QuestionTerms, sequence: tuple[str, ...]) -> float:
    """Share of the question's word pairs that the sentence repeats in order: paraphrase vs shared topic."""
    wanted = terms.bigrams
    if not wanted:
        return 0.0
    return len(wanted & set(zip(sequence, sequence[1:]))) / len(wanted)


def window_density(terms: QuestionTerms, sequence: tuple[str, ...]) -> float:
    """How tightly the matched question words cluster: the answer usually sits right beside them."""
    wanted = set(terms.weights)
    positions = [i for i, s in enumerate(sequence) if s in wanted]
    if len(positions) < 2:
        return 0.0
    matched = len({sequence[i] for i in positions})
    best = len(sequence)
    # Smallest window holding every distinct matched word (two pointers).
    need: dict[str, int] = {}
    have = 0
    lo = 0
    for hi in positions:
        need[sequence[hi]] = need.get(sequence[hi], 0) + 1
        if need[sequence[hi]] == 1:
            have += 1
        while have == matched:
            start = positions[lo]
            best = min(best, hi - start + 1)
            need[sequence[start]] -= 1
            if need[sequence[start]] == 0:
                have -= 1
            lo += 1
    return matched / best


def idf_weights(stems: list[str], df: Counter[str], n_docs: int) -> dict[str, float]:
    return {s: math.log(1.0 + (n_docs + 1) / (df.get(s, 0) + 0.5)) for s in dict.fromkeys(stems)}


def coverage(terms: QuestionTerms, stems: set[str]) -> float:
    """idf-weighted share of the question's content words present in ``stems``."""
    return sum(w for s, w in terms.weights.items() if s in stems) / terms.total


# "How many container ships were waiting?" is answered by "31 container ships were anchored
# outside the harbour", not by any sentence with a number in it: the count must be of the
# thing asked. Without one, the documents usually count something else (unanswerable).
_COUNT_STOP = frozenset(
    "did does do were was are is have has had will would can could should might may must in on at from for to "
    "there remain remains still each per a an the that who which".split()
)
_NUMBER_WORD = re.compile(
    r"^(?:\d[\d,.]*%?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|"
    r"thousand|thousands|million|millions|billion|billions|dozen|dozens|several|few)$",
    re.I,
)


@lru_cache(maxsize=4096)
def counted_noun(question: str) -> str | None:
    """The stem of the noun a "how many" question counts ("How many of the 37 cases are ..."
    -> "case"); None for other questions."""
    m = re.search(r"\bhow\s+many\s+(.*)", question, re.I)
    if m is None:
        return None
    toks = [t.lower() for t in re.findall(r"[\w’'-]+|[?,;:]", m.group(1))]
    if toks[:1] == ["of"]:
        toks = toks[1:]
        while toks and (toks[0] in ("the", "these", "those", "its", "their", "his", "her", "our") or _NUMBER_WORD.match(toks[0])):
            toks = toks[1:]
    head = None
    for t in toks:
        if t in _COUNT_STOP or not re.match(r"\w", t):
            break
        head = t
    return stem(head) if head else None


def counts(noun: str | None, sentence: str) -> float:
    """1.0 when the sentence gives a number of ``noun`` ("nine new measles cases")."""
    if noun is None:
        return 0.0
    toks = [t.lower() for t in re.findall(r"[\w’'.,-]*\w", sentence)]
    for i, t in enumerate(toks):
        if _NUMBER_WORD.match(t) and any(stem(w) == noun for w in toks[i + 1 : i + 5]):
            return 1.0
    return 0.0


FEATURES = (
    "bias",
    "cos",
    "cos_ctx",
    "lex",
    "lex_ctx",
    "type_match",
    "novelty",
    "echo",
    "pronoun",
    "passage",
    "dense_rank",
    "first_in_passage",
    "history_lex",
    "length",
    "bigram",
    "window",
    "soft",
    "soft_ctx",
    "new_name",
    "role_name",
    "count_noun",
    "previous_same",
    "previous_near",
)


def previous_overlap(previous: frozenset[str], here: frozenset[str], neighbours: list[frozenset[str]]) -> tuple[float, float]:
    """Share of the previous answer's words in this sentence, and the most in a sentence next to it.

    A follow-up's answer sits where the previous answer was, or right beside it ("And when
    does it start?" after "How long will construction take?"): in the training conversations
    (train/) 38% of follow-ups are answered by the previous answer's own sentence and 36% by
    the one before or after it, against ~5% for any given sentence of a 40-sentence article.
    The previous question's words alone do not find the sentence beside the answer."""
    if not previous:
        return 0.0, 0.0
    n = len(previous)
    return len(here & previous) / n, max((len(s & previous) / n for s in neighbours), default=0.0)


def sentence_features(
    *,
    terms: QuestionTerms,
    qtype: str,
    question: str,
    text: str,
    sequence: tuple[str, ...],
    context_stems: frozenset[str],
    cos: float,
    cos_ctx: float,
    passage_score: float,
    passage_rank: int,
    first_in_passage: bool,
    soft: float,
    soft_ctx: float,
    introduces: bool = False,
    previous: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """``sequence``: the sentence's content stems in order; ``context_stems``: previous sentence and title.

    ``introduces``: for an identity question, the sentence is its document's first mention of
    the name, which is where a news text says who someone is ("Its chief executive, Declan
    Moorcroft, said ..."); it counts as the answer type, like a description.
    ``previous``: for a follow-up, how much of the previous answer this sentence and its
    neighbours hold (:func:`previous_overlap`).
    """
    stems = frozenset(sequence)
    ctx = stems | context_stems
    lex = coverage(terms, stems)
    lex_ctx = coverage(terms, ctx)
    qset = set(terms.weights)
    novel = [s for s in stems if s not in qset and s not in terms.context_stems]
    novelty = len(novel) / max(len(stems), 1)
    echo = 1.0 if len(novel) <= 1 else 0.0
    history_lex = (len(stems & terms.context_stems) / max(len(terms.context_stems), 1)) if terms.context_stems else 0.0
    return np.array(
        [
            1.0,
            cos,
            cos_ctx,
            lex,
            lex_ctx,
            1.0 if introduces else type_match(qtype, text, question),
            novelty,
            echo,
            1.0 if PRONOUN_START.match(text) else 0.0,
            passage_score,
            1.0 / (1.0 + passage_rank),
            1.0 if first_in_passage else 0.0,
            history_lex,
            min(len(text), 600) / 600.0,
            bigram_overlap(terms, sequence),
            window_density(terms, sequence),
            soft,
            soft_ctx,
            new_name(text, question),
            role_name(qtype, text, question),
            counts(counted_noun(question), text),
            previous[0],
            previous[1],
        ],
        dtype=np.float64,
    )


ANSWERABILITY_FEATURES = (
    "bias",
    "best_score",
    "margin",
    "best_cos",
    "best_lex",
    "best_lex_ctx",
    "evidence_coverage",
    "corpus_coverage",
    "missing_rare",
    "missing_rare_best",
    "type_match",
    "top_passage",
    "max_cos_any",
    "missing_names",
    "missing_numbers",
    "best_soft_ctx",
    "soft_missing",
    "follow_up",
    "best_history",
    "count_missing",
    "answer_clause_missing",
    "answer_subject_missing",
    "referent_missing",
)

_Q_NUMBER_RE = re.compile(r"\b\d[\d,.]*\b")


def question_numbers(question: str) -> set[str]:
    return {m.replace(",", "") for m in _Q_NUMBER_RE.findall(question)}


#: Words each side of a candidate answer that count as what the sentence says about it.
ANSWER_WINDOW = 8
_TOKEN_RE = re.compile(r"[\w’'-]+")


def answer_windows(qtype: str, sentence: str, question: str) -> list[str] | None:
    """The text within ANSWER_WINDOW words of each candidate answer of the asked kind in the
    sentence (what the sentence says about it); None for a question that asks for no such kind."""
    spans = answer_spans(qtype, sentence, question)
    if spans is None:
        return None
    toks = [m.span() for m in _TOKEN_RE.finditer(sentence)]
    out = []
    for a, b in spans:
        inside = [i for i, (s, e) in enumerate(toks) if e > a and s < b]
        if inside:
            lo, hi = max(0, inside[0] - ANSWER_WINDOW), min(len(toks) - 1, inside[-1] + ANSWER_WINDOW)
            out.append(sentence[toks[lo][0] : toks[hi][1]])
    return out


def answer_clause_missing(qtype: str, sentence: str, question: str, terms: QuestionTerms) -> float:
    """How much of what the question asks about is missing beside the answer the sentence offers.

    "How much did Lumetra spend developing the Folio X?" finds "... a factory, which the company
    expanded last year at a cost of $85 million": an amount of the asked kind, in a sentence
    about the subject, but the words beside the amount say it is the cost of something else.
    The question's names are left out (the subject is often named far from the answer, and
    missing names are a feature of their own); the rest, idf-weighted, is looked for within
    ANSWER_WINDOW words of each candidate answer, and the best-covered one counts.
    0 for a question that asks for no typed answer, 1 when the sentence offers none.
    """
    windows = answer_windows(qtype, sentence, question)
    names = question_names(question)
    asked = {s: w for s, w in terms.weights.items() if s not in names}
    total = sum(asked.values())
    if windows is None or total <= 0:
        return 0.0
    best = 0.0
    for window in windows:
        near = set(content_stems(window))
        best = max(best, sum(w for s, w in asked.items() if s in near) / total)
    return 1.0 - best


_PRONOUN = re.compile(r"\b(?:he|she|they|it|his|her|hers|their|its|him|them)\b", re.I)


_PERSONAL = re.compile(r"\b(?:he|she|his|her|hers|him)\b", re.I)


def referent_missing(question: str, asked_before: str, previous: str, sentence: str, context: frozenset[str], quoted: bool) -> float:
    """1 when a follow-up asks about "he" or "she" and the sentence names nobody the
    conversation's last turn named (nor, when the sentence says "he" or "she" itself, the
    sentence before it or the title: ``context``).

    "How old is she?" after "Who directed it?" / "Sunniva Holt." is not answered by
    "Linnea Sorby, 24, won best actress": an age, of someone else. The question itself names
    nobody, so :func:`answer_subject_missing` cannot tell; the person is in the turn before
    (``asked_before``: its question; ``previous``: the answer it got). Quoted speech
    (``quoted``) names its speaker anywhere in the quotation, so it is not judged; nor is
    "it" or "they", which a text names by description ("the company") as often as by name.
    0 for a question that is not such a follow-up."""
    if quoted or not asked_before or question_names(question) or not _PERSONAL.search(question):
        return 0.0
    # both turns' names: "he" may be the one the answer named or the one the question did
    # ("Who prosecuted Viktor Rensch?" / "Owen Talbride." -> "Is he going to appeal?"); taking
    # the answer's alone after a "who" question was measured and not kept (README)
    referents = question_names(asked_before) | question_names(previous)
    if not referents:
        return 0.0
    here = set(content_stems(sentence)) | (context if _PERSONAL.search(sentence) else frozenset())
    return 0.0 if referents & here else 1.0


def answer_subject_missing(qtype: str, sentence: str, question: str, context: frozenset[str]) -> float:
    """Share of the question's names missing beside the answer the sentence offers.

    "How old is Ilse Carrow?" is not answered by "Leyla Brannic, a 34-year-old schoolteacher":
    an age, but someone else's. A name counts as beside the answer when it is within
    ANSWER_WINDOW words of it, or when a pronoun is there and the sentence before (``context``:
    its stems and the title's) names it ("He is 61."). The best-covered candidate answer
    counts; 0 for a question without names or without a typed answer, 1 when the sentence
    offers no answer of the kind asked.
    """
    windows = answer_windows(qtype, sentence, question)
    names = question_names(question)
    if windows is None or not names:
        return 0.0
    best = 0.0
    for window in windows:
        near = set(content_stems(window)) | (context if _PRONOUN.search(window) else frozenset())
        best = max(best, len(names & near) / len(names))
    return 1.0 - best


def answerability_features(
    *,
    terms: QuestionTerms,
    best: np.ndarray,
    best_score: float,
    second_score: float,
    best_context: frozenset[str],
    evidence: set[str],
    corpus_df: Counter[str],
    top_passage: float,
    max_cos: float,
    names: set[str],
    numbers: set[str],
    evidence_text: str,
    soft_missing: float,
    count_asked: bool = False,
    clause_missing: float = 0.0,
    subject_missing: float = 0.0,
    referent: float = 0.0,
) -> np.ndarray:
    """Does the retrieved evidence answer the question? Mostly: are the question's rare words there."""
    idx = {f: i for i, f in enumerate(FEATURES)}
    max_w = max(terms.weights.values(), default=1.0) or 1.0
    missing = [w for s, w in terms.weights.items() if s not in evidence]
    missing_best = [w for s, w in terms.weights.items() if s not in best_context]
    corpus_cov = sum(w for s, w in terms.weights.items() if corpus_df.get(s, 0) > 0) / terms.total
    return np.array(
        [
            1.0,
            best_score,
            best_score - second_score,
            best[idx["cos"]],
            best[idx["lex"]],
            best[idx["lex_ctx"]],
            coverage(terms, evidence),
            corpus_cov,
            (max(missing) / max_w) if missing else 0.0,
            (max(missing_best) / max_w) if missing_best else 0.0,
            best[idx["type_match"]],
            top_passage,
            max_cos,
            (len(names - evidence) / len(names)) if names else 0.0,
            (sum(n not in evidence_text for n in numbers) / len(numbers)) if numbers else 0.0,
            best[idx["soft_ctx"]],
            soft_missing,
            # A follow-up ("And the year before?") has few words of its own: its evidence is
            # judged with the conversation's topic, which the best sentence may cover.
            1.0 if terms.context_stems else 0.0,
            best[idx["history_lex"]],
            1.0 if count_asked and best[idx["count_noun"]] == 0 else 0.0,
            clause_missing,
            subject_missing,
            referent,
        ],
        dtype=np.float64,
    )


CONTINUATION_FEATURES = (
    "bias",
    "next_anaphor",
    "next_quote",
    "colon",
    "novelty",
    "echo",
    "type_match",
    "next_type_match",
    "next_lex",
    "next_lex_ctx",
    "next_cos_ctx",
    "next_soft_ctx",
    "lex",
    "score_gap",
    "new_name",
    "next_new_name",
    "length",
    "setup",
    "best_quote",
    "open_quote",
)


def continuation_features(*, best: np.ndarray, nxt: np.ndarray, best_score: float, next_score: float, text: str, next_text: str) -> np.ndarray:
    """Should the answer go on into the next sentence?

    The usual miss of a sentence ranker: the sentence that matches the question sets the
    scene ("What did the store owner say a closure would mean for him?" -> "Tomas Reyes,
    who owns a hardware store, said his shop depends on commuters.") and the next one, which
    the question's words do not match, says the thing asked ("“If they close that bridge
    ..., I don’t know if I’ll still be here,” he said.").
    ``best``/``nxt`` are the two sentences' ranking features (:data:`FEATURES`).
    """
    i = {f: k for k, f in enumerate(FEATURES)}
    return np.array(
        [
            1.0,
            1.0 if ANAPHOR_OPENING.match(next_text) else 0.0,
            1.0 if opens_quotation(next_text) else 0.0,
            1.0 if text.rstrip().endswith(":") else 0.0,
            best[i["novelty"]],
            best[i["echo"]],
            best[i["type_match"]],
            nxt[i["type_match"]],
            nxt[i["lex"]],
            nxt[i["lex_ctx"]],
            nxt[i["cos_ctx"]],
            nxt[i["soft_ctx"]],
            best[i["lex"]],
            best_score - next_score,
            best[i["new_name"]],
            nxt[i["new_name"]],
            min(len(text) + len(next_text), 800) / 800.0,
            # A sentence that announces a quotation ("She also had a message for the
            # shareholders.") followed by the quotation itself.
            1.0 if not QUOTE_RE.search(text) and opens_quotation(next_text) else 0.0,
            1.0 if QUOTE_RE.search(text) else 0.0,
            # A quotation that the sentence opens and the next one goes on with.
            1.0 if leaves_quotation_open(text) else 0.0,
        ],
        dtype=np.float64,
    )
