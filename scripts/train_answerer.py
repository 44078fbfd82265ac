"""Learn the extractive answerer's weights from the public SQuAD 2.0 sample (and ``--gold`` sets).

Reproduces ``qa/answerers/weights.json``:

    python scripts/train_answerer.py --gold train/questions.jsonl:train/docs [--out qa/answerers/weights.json]

Three linear models over the features in ``qa/answerers/features.py``:

* ranker: listwise logistic regression (a softmax per question), "this sentence holds the
  answer" against the others, over the candidates that retrieval gives for each answerable question;
* answerability: logistic regression over features of the best candidate and the
  evidence, trained on answerable vs unanswerable (``--label answerable``, default) or on
  "the sentence we would answer with holds a gold answer" (``--label correct``: abstain
  when the answer would be wrong for either reason). Reported both as AUROC against the
  answerable/unanswerable split and against answer correctness;
* identity answerability: for identity questions ("Who is Alvarez?", ``--identity``), the
  share whose top-ranked sentence holds the answer when that sentence introduces or
  describes the name (the answer type of such a question). The answerability model, fitted
  on questions of other kinds, does not know this case; its probability is raised to that
  share there (it stays as it is when no candidate introduces the name);
* continuation: logistic regression, "the best sentence misses the answer and the next
  one has it", over :data:`qa.answerers.features.CONTINUATION_FEATURES`. Its threshold is
  the lowest at which at least ``--min-continuation-gain`` of the held-out continuations
  turn a miss into an answer; the held-out answer accuracy (and so the abstention
  threshold) counts what the answer text holds, continuation included.

Quality is reported on held-out folds grouped by paragraph (questions about the same
paragraph never sit on both sides). The shipped weights are then fitted on all of it.
The default abstention threshold is the highest one whose held-out answer accuracy
stays at or above ``--min-accuracy``. Nothing here sees the seed evaluation set.
Writes plain JSON (no pickle).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from qa import Assistant  # noqa: E402
from qa.answerers.extractive import WEIGHTS_PATH, ExtractiveAnswerer, _sigmoid  # noqa: E402
from qa.answerers.features import ANSWERABILITY_FEATURES, CONTINUATION_FEATURES, FEATURES, question_type  # noqa: E402
from qa.chain import condense, normalize_history, previous_answer, read_turn  # noqa: E402
from qa.embeddings import Embedder  # noqa: E402
from qa.evaluation import GoldItem, load_gold, normalize_answer, squad_to_gold  # noqa: E402
from qa.retrieval import Retrieval, search  # noqa: E402
from qa.settings import Settings  # noqa: E402


@dataclass
class Example:
    item: GoldItem
    retrieval: Retrieval
    group: str
    context: str = ""
    dataset: str = ""
    previous: str = ""  # a follow-up's previous answer, as the gold conversation gives it
    # a follow-up's previous question, asked alone, retrieved: for the answer the assistant
    # itself gave it (:func:`previous_of`), which is what the chat passes on
    previous_retrieval: Retrieval | None = None
    previous_question: str = ""
    top_text: str = ""  # the top-ranked sentence at the held-out analysis (for --dump)
    top_offset: int = 0  # its place among the candidates holding a gold answer: sentence id distance to the nearest
    gold_text: str | None = None  # the nearest gold-holding candidate sentence (for --dump)


def build_examples(assistant: Assistant, gold: list[GoldItem], dataset: str, group_by: str) -> list[Example]:
    """Retrieve exactly as the chain does (follow-ups condensed with their history)."""
    snap, s = assistant.snapshot(), assistant.settings
    out = []
    for it in gold:
        question, history = read_turn(it.question, normalize_history(it.history), snap)  # typing mistakes read
        if question != it.question:
            it = replace(it, question=question)
        query, context = condense(it.question, history)
        r = search(snap, assistant.embedder, query, k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k)
        group = f"{dataset}:{it.source}:{it.paragraph}" if group_by == "paragraph" else f"{dataset}:{it.source}"
        ex = Example(it, r, group, context, dataset, previous_answer(history))
        if context and history:
            ex.previous_question = history[-1][0]
            ex.previous_retrieval = search(snap, assistant.embedder, ex.previous_question, k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k)
        out.append(ex)
    return out


#: Which previous answer a training follow-up sees: "gold" (the conversation's written
#: answer, as gold files give it) or "own" (the answerer's own top sentence for the previous
#: question, as the chat gives it). "own" was measured and not kept (README, fourteenth
#: session): the chat replay of eval/dev and eval/genres was no better with it.
PREVIOUS = {"source": "gold"}


def previous_of(answerer: ExtractiveAnswerer, ex: Example) -> str:
    if PREVIOUS["source"] == "gold" or ex.previous_retrieval is None:
        return ex.previous
    ranked = answerer.analyze(ex.previous_question, ex.previous_retrieval).candidates
    return ex.previous_retrieval.snapshot.sentence_text(ranked[0].sentence) if ranked else ""


def labels(ex: Example, sids: list[int]) -> np.ndarray:
    golds = [normalize_answer(a) for a in ex.item.answers]
    return np.array([any(g and g in normalize_answer(ex.retrieval.snapshot.sentence_text(s)) for g in golds) for s in sids], dtype=bool)


def answerer_with(settings: Settings, embedder: Embedder, rank_w: np.ndarray | None = None) -> ExtractiveAnswerer:
    """An answerer with these ranking weights (zeros: none yet) and nothing else learned.

    Built without reading the shipped weights: the script's output depends on the data alone.
    Answerability and continuation are fitted from its features, never from its weights.
    """
    a = ExtractiveAnswerer.__new__(ExtractiveAnswerer)
    a.settings, a.embedder, a.default_threshold = settings, embedder, 0.5
    a.rank_w = rank_w if rank_w is not None else np.zeros(len(FEATURES))
    a.ans_w = np.zeros(len(ANSWERABILITY_FEATURES))
    a.cont_w, a.cont_threshold = None, 1.0
    a.identity_floor = 0.0
    return a


@dataclass
class Continuation:
    """Per question: the features for going on into the best sentence's next one, and what it would give."""

    features: np.ndarray | None  # None: no next sentence among the candidates, or the two are too long
    top_ok: bool
    next_ok: bool
    # The rest of a quotation the answer opens (ExtractiveAnswerer.quotation_rest) holds the
    # answer, without and with going on into the next sentence.
    rest_ok: bool = False
    next_rest_ok: bool = False


def continuation_rows(answerer: ExtractiveAnswerer, examples: list[Example]) -> list[Continuation]:
    rows = []
    for ex in examples:
        an = answerer.analyze(ex.item.question, ex.retrieval, ex.context, previous_of(answerer, ex))
        if not an.candidates or not ex.item.answerable:
            rows.append(Continuation(None, False, False))
            continue
        snap, best, nxt = ex.retrieval.snapshot, an.candidates[0], an.next_candidate
        top_ok = bool(labels(ex, [best.sentence])[0])
        fits = nxt is not None and answerer.fits_together(snap, best, nxt)
        start = int(snap.sentences[best.sentence, 0])  # (a sentence over the length limit never goes on)
        rest = answerer.quotation_rest(snap, best.sentence, start)
        next_rest = answerer.quotation_rest(snap, nxt.sentence, start) if fits and nxt is not None else []
        rows.append(Continuation(
            an.continuation if fits else None, top_ok, fits and bool(labels(ex, [nxt.sentence])[0]),
            rest_ok=bool(rest) and bool(labels(ex, rest).any()), next_rest_ok=bool(next_rest) and bool(labels(ex, next_rest).any()),
        ))
    return rows


def fit_continuation(rows: list[Continuation], c: float) -> np.ndarray:
    """Learns "the best sentence misses the answer and the next one has it"."""
    use = [r for r in rows if r.features is not None]
    X = np.stack([r.features for r in use])
    return fit_answerability(X, np.array([(not r.top_ok) and r.next_ok for r in use]), c)


#: Features that only a follow-up has (the previous answer's place): fitted on follow-ups
#: alone, on top of the rest, so that questions without a conversation rank exactly as before.
FOLLOW_UP_FEATURES = ("previous_same", "previous_near")


def fit_ranker(answerer: ExtractiveAnswerer, examples: list[Example], c: float) -> np.ndarray:
    """Listwise: maximise the softmax probability of the answer-bearing sentences per question.

    Pairwise training drowns in easy negatives; what matters is the top-1 pick, which is
    what a per-question softmax optimises. L2 strength ``1/c`` on standardised features (on
    raw ones the penalty fell hardest on the small-scale features and cost 2 points of
    held-out top-1), folded back so the JSON weights apply to raw features; the bias and the
    centring have no effect inside a per-question softmax.

    Two stages: every feature but :data:`FOLLOW_UP_FEATURES` on all questions, then those on
    the follow-ups alone with the first stage's scores held fixed. (Fitted jointly, they
    moved the other weights too: held-out answerability AUROC on SQuAD, which has no
    follow-ups, fell 0.722 -> 0.714.)
    """
    follow = np.array([f in FOLLOW_UP_FEATURES for f in FEATURES])
    w = _fit_listwise(_ranking_groups(answerer, examples, previous=False), c, ~follow, np.zeros(len(FEATURES)))
    # the previous answer, where it is the answerer's own, is the first stage's
    first = answerer_with(answerer.settings, answerer.embedder, w)
    later = [(X, y) for X, y in _ranking_groups(first, [e for e in examples if e.context]) if X[:, follow].any()]
    return _fit_listwise(later, c, follow, w) if later else w


def _ranking_groups(answerer: ExtractiveAnswerer, examples: list[Example], previous: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per answerable question with both right and wrong candidates: their features and labels."""
    groups = []
    for ex in examples:
        if not ex.item.answerable:
            continue
        prev = previous_of(answerer, ex) if previous else ""
        cands = answerer.analyze(ex.item.question, ex.retrieval, ex.context, prev).candidates
        y = labels(ex, [k.sentence for k in cands])
        if y.any() and not y.all():
            groups.append((np.stack([k.features for k in cands]), y))
    return groups


def _fit_listwise(groups: list[tuple[np.ndarray, np.ndarray]], c: float, free: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The weights of the ``free`` columns (the rest as in ``fixed``, whose scores are an offset)."""
    from scipy.optimize import minimize

    allx = np.vstack([X for X, _ in groups])
    mu, sigma = allx.mean(0), allx.std(0)
    sigma[sigma < 1e-9] = 1.0  # the bias column, and any feature constant in the data
    data = [((X - mu)[:, free] / sigma[free], X @ fixed, y) for X, y in groups]
    penalised = np.array([i != 0 for i in np.flatnonzero(free)], dtype=float)  # never the bias

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for X, offset, y in data:
            z = X @ w + offset
            z = z - z.max()
            p = np.exp(z)
            p /= p.sum()
            pos = p[y].sum()
            total -= np.log(pos + 1e-12)
            # d/dw -log(sum_pos p) = E_p[x] - E_{p|pos}[x]
            grad += p @ X - (p[y] @ X[y]) / (pos + 1e-12)
        total += 0.5 / c * float((w * penalised) @ w)
        grad += w * penalised / c
        return total, grad

    w0 = np.zeros(int(free.sum()))  # not the shipped weights: the output must not depend on them
    result = minimize(loss, w0, jac=True, method="L-BFGS-B")
    out = fixed.copy()
    out[free] = result.x / sigma[free]
    out[0] = 0.0
    return out


def answerability_matrix(answerer: ExtractiveAnswerer, examples: list[Example], record: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, answerable labels, and whether the top sentence holds a gold answer
    (``record``: keep each example's top sentence, for ``--dump``)."""
    feats, answerable, top_ok = [], [], []
    for ex in examples:
        an = answerer.analyze(ex.item.question, ex.retrieval, ex.context, previous_of(answerer, ex))
        f = an.answerability_features
        feats.append(f if f is not None else np.zeros(len(ANSWERABILITY_FEATURES)))
        answerable.append(ex.item.answerable)
        top_ok.append(bool(an.candidates) and ex.item.answerable and bool(labels(ex, [an.candidates[0].sentence])[0]))
        if record and an.candidates:
            top = an.candidates[0].sentence
            ex.top_text = ex.retrieval.snapshot.sentence_text(top)
            sids = [c.sentence for c in an.candidates]
            gold = [sid for sid, ok in zip(sids, labels(ex, sids)) if ok]
            ex.top_offset = min((sid - top for sid in gold), key=abs, default=999)
            ex.gold_text = ex.retrieval.snapshot.sentence_text(top + ex.top_offset) if gold else None
    return np.array(feats), np.array(answerable), np.array(top_ok)


def fit_answerability(X: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Standardise for the solver, then fold the scaling back so the JSON weights apply to raw features."""
    mu, sigma = X[:, 1:].mean(0), X[:, 1:].std(0) + 1e-9
    Z = (X[:, 1:] - mu) / sigma
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(Z, y)
    w = model.coef_[0] / sigma
    b = model.intercept_[0] - float((model.coef_[0] * mu / sigma).sum())
    return np.r_[b, w]


def identity_share(answerer: ExtractiveAnswerer, spec: str, root: Path) -> dict[str, object]:
    """How often an identity question's top sentence holds the answer when that sentence
    introduces or describes the name. The ranker never trains on these questions, so the
    share is measured on data it has not seen."""
    jsonl, docs = spec.split(":", 1)
    index = Assistant.open(root)
    index.add([REPO / docs])
    tm = FEATURES.index("type_match")
    typed = right = wrong_unanswerable = 0
    examples = build_examples(index, load_gold(REPO / jsonl), "identity", "document")
    for ex in examples:
        an = answerer.analyze(ex.item.question, ex.retrieval, ex.context, previous_of(answerer, ex))
        if question_type(ex.item.question) != "identity" or not an.candidates or an.candidates[0].features[tm] <= 0:
            continue
        typed += 1
        if ex.item.answerable:
            right += bool(labels(ex, [an.candidates[0].sentence])[0])
        else:
            wrong_unanswerable += 1
    return {
        "trained_on": jsonl,
        "questions": len(examples),
        "introduced": typed,
        "introduced_unanswerable": wrong_unanswerable,
        "answerable_when_introduced": round(right / typed, 4) if typed else 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--squad", type=Path, default=REPO / "eval" / "squad2-computational-complexity.json")
    p.add_argument("--gold", action="append", default=[], metavar="JSONL:DOCS",
                   help="Extra training set: a gold JSONL and the folder of its documents (repeatable).")
    p.add_argument("--identity", default="train/identity.jsonl:train/docs", metavar="JSONL:DOCS",
                   help="Identity questions for the identity answerability share ('' to leave it out).")
    p.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    p.add_argument("--dump", type=Path, default=None, metavar="JSONL",
                   help="Write each question's held-out answerability and whether its answer was right (for reading errors).")
    p.add_argument("--label", choices=("answerable", "correct"), default="answerable", help="What answerability is trained to predict.")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--previous", choices=("gold", "own"), default="gold",
                   help="A follow-up's previous answer: the answerer's own (as the chat gives it) or the conversation's written one.")
    p.add_argument("--c-rank", type=float, default=0.3)
    p.add_argument("--c-ans", type=float, default=1.0)
    p.add_argument("--min-accuracy", type=float, default=0.75, help="Held-out answer accuracy the default threshold must keep.")
    p.add_argument("--c-cont", type=float, default=1.0)
    p.add_argument("--min-continuation-gain", type=float, default=0.2,
                   help="Go on into the next sentence only where at least this share of held-out continuations turned a miss into an answer.")
    p.add_argument("--max-drop", type=float, default=0.05, help="Accuracy the threshold may cost when --min-accuracy is out of reach.")
    args = p.parse_args()
    PREVIOUS["source"] = args.previous
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        gold, folder = squad_to_gold(args.squad, Path(tmp) / "docs")
        squad_index = Assistant.open(Path(tmp) / "idx")
        squad_index.add([folder])
        examples = build_examples(squad_index, gold, "squad", "paragraph")
        for i, spec in enumerate(args.gold):
            jsonl, docs = spec.split(":", 1)
            extra = Assistant.open(Path(tmp) / f"idx{i}")
            extra.add([docs])
            examples += build_examples(extra, load_gold(jsonl), f"gold{i}", "document")
        s = squad_index.settings
        print(f"{len(examples)} questions: " + ", ".join(f"{d} {sum(e.dataset == d for e in examples)}" for d in dict.fromkeys(e.dataset for e in examples)), file=sys.stderr)
        base = answerer_with(s, squad_index.embedder)
        groups = np.array([e.group for e in examples])

        # ---- held-out evaluation, grouped by paragraph
        oof_prob = np.zeros(len(examples))
        oof_top_ok = np.zeros(len(examples), dtype=bool)
        oof_cont = np.full(len(examples), -1.0)  # held-out P(go on); -1: no next sentence to go on into
        oof_next_ok = np.zeros(len(examples), dtype=bool)
        oof_rest_ok = np.zeros(len(examples), dtype=bool)
        oof_next_rest_ok = np.zeros(len(examples), dtype=bool)
        answerable = np.array([e.item.answerable for e in examples])
        for fold, (tr, te) in enumerate(GroupKFold(n_splits=args.folds).split(examples, groups=groups)):
            train = [examples[i] for i in tr]
            test = [examples[i] for i in te]
            rank_w = fit_ranker(base, train, args.c_rank)
            a = answerer_with(s, squad_index.embedder, rank_w)
            Xtr, ans_tr, ok_tr = answerability_matrix(a, train)
            ans_w = fit_answerability(Xtr, ok_tr if args.label == "correct" else ans_tr, args.c_ans)
            Xte, _, top_ok = answerability_matrix(a, test, record=True)
            oof_prob[te] = [_sigmoid(float(x @ ans_w)) for x in Xte]
            oof_top_ok[te] = top_ok
            cont_w = fit_continuation(continuation_rows(a, train), args.c_cont)
            for i, row in zip(te, continuation_rows(a, test)):
                oof_rest_ok[i], oof_next_rest_ok[i] = row.rest_ok, row.next_rest_ok
                if row.features is not None:
                    oof_cont[i] = _sigmoid(float(row.features @ cont_w))
                    oof_next_ok[i] = row.next_ok
            print(f"fold {fold + 1}/{args.folds} done", file=sys.stderr)

        # Continuation threshold: the lowest at which enough of the continuations it allows
        # rescue an answer (the rest only make a right answer one sentence longer).
        cont_threshold, cont_rate = 1.0, 0.0
        for t in np.round(np.arange(0.05, 1.0001, 0.01), 2):
            go = answerable & (oof_cont >= t)
            if go.any() and (go & ~oof_top_ok & oof_next_ok).sum() / go.sum() >= args.min_continuation_gain:
                cont_threshold, cont_rate = float(t), float(go.sum() / answerable.sum())
                break
        top1_sentence_ok = oof_top_ok.copy()
        goes_on = oof_cont >= cont_threshold
        # what the answer text holds: the sentence, the next one if it goes on, and the rest
        # of a quotation it leaves open
        oof_top_ok = oof_top_ok | (goes_on & (oof_next_ok | oof_next_rest_ok)) | (~goes_on & oof_rest_ok)

        auroc = float(roc_auc_score(answerable, oof_prob))
        auroc_correct = float(roc_auc_score(oof_top_ok, oof_prob))
        top1 = float(top1_sentence_ok[answerable].mean())
        answer_top1 = float(oof_top_ok[answerable].mean())
        datasets = np.array([e.dataset for e in examples])
        per_dataset = {}
        for d in dict.fromkeys(datasets):
            m = datasets == d
            per_dataset[d] = {
                "questions": int(m.sum()),
                "answerability_auroc": round(float(roc_auc_score(answerable[m], oof_prob[m])), 4) if len(set(answerable[m])) > 1 else None,
                "top1_sentence_accuracy": round(float(top1_sentence_ok[m & answerable].sum() / max((m & answerable).sum(), 1)), 4),
                "answer_accuracy_with_continuation": round(float(oof_top_ok[m & answerable].sum() / max((m & answerable).sum(), 1)), 4),
            }
        sweep = []
        for t in np.round(np.arange(0.0, 1.0001, 0.01), 2):
            keep = oof_prob >= t
            acc = float((oof_top_ok & keep)[answerable].mean())
            abst = float((~keep)[~answerable].mean())
            sweep.append((float(t), acc, abst))
        # Abstain as much as possible while accuracy stays >= --min-accuracy (the rule);
        # if even t=0 is below it, give up at most --max-drop of the accuracy answering
        # everything has. (Tried: always allowing --max-drop, so min(0.75, t0 - 0.05): on the
        # held-out folds 0.33 abstention at accuracy 0.707 instead of 0.08 at 0.75, but on the
        # seed set it abstained on 13 answerable questions, so the gate failed and it went.)
        floor = args.min_accuracy if sweep[0][1] >= args.min_accuracy else sweep[0][1] - args.max_drop
        # The accuracy a threshold keeps is read off the curve averaged with its neighbours
        # (+-0.01): one held-out question is 0.001 of accuracy, and without it the threshold
        # jumped a step when one more question came out right (0.7489 -> 0.7500 at 0.48, the
        # fourteenth session's follow-up features), which cost answers on unseen articles.
        smooth = [float(np.mean([sweep[j][1] for j in range(max(i - 1, 0), min(i + 2, len(sweep)))])) for i in range(len(sweep))]
        ok = [row for row, acc in zip(sweep, smooth) if acc >= floor]
        threshold, acc_at, abst_at = max(ok, key=lambda r: (r[2], r[0]))

        if args.dump:
            with args.dump.open("w", encoding="utf-8") as fh:
                for i, ex in enumerate(examples):
                    fh.write(json.dumps({
                        "dataset": ex.dataset, "id": ex.item.id, "question": ex.item.question,
                        "answerable": bool(answerable[i]), "answers": ex.item.answers[:2],
                        "p": round(float(oof_prob[i]), 4), "top_ok": bool(top1_sentence_ok[i]),
                        "answer_ok": bool(oof_top_ok[i]), "top": ex.top_text,
                        "gold_offset": ex.top_offset, "gold": ex.gold_text,
                    }, ensure_ascii=False) + "\n")

        # ---- final fit on everything
        rank_w = fit_ranker(base, examples, args.c_rank)
        a = answerer_with(s, squad_index.embedder, rank_w)
        X, ans_all, ok_all = answerability_matrix(a, examples)
        ans_w = fit_answerability(X, ok_all if args.label == "correct" else ans_all, args.c_ans)
        cont_w = fit_continuation(continuation_rows(a, examples), args.c_cont)
        identity = identity_share(a, args.identity, Path(tmp) / "identity") if args.identity else None

    out = {
        "about": "Learned by scripts/train_answerer.py from the SQuAD 2.0 sample; do not edit by hand.",
        "trained_on": [str(args.squad.relative_to(REPO) if args.squad.is_relative_to(REPO) else args.squad), *args.gold],
        "trained": time.strftime("%Y-%m-%d"),
        "held_out": {
            "folds": args.folds,
            "grouped_by": "paragraph",
            "answerability_auroc": round(auroc, 4),
            "answer_correct_auroc": round(auroc_correct, 4),
            "top1_sentence_accuracy": round(top1, 4),
            "answer_accuracy_with_continuation": round(answer_top1, 4),
            "continuation_rate": round(cont_rate, 4),
            "continuation_rule": f"lowest threshold where >= {args.min_continuation_gain} of continuations rescue a missed answer",
            "per_dataset": per_dataset,
            "default_threshold_accuracy": round(acc_at, 4),
            "default_threshold_abstention": round(abst_at, 4),
            "default_threshold_rule": f"max abstention with accuracy (averaged with the thresholds 0.01 either side) >= {floor:.4f}",
            "threshold_sweep": [{"threshold": t, "accuracy": round(acc, 4), "abstention": round(ab, 4)} for t, acc, ab in sweep[::5]],
        },
        "default_threshold": threshold,
        "answerability_label": args.label,
        "ranker": {"weights": {f: round(float(w), 6) for f, w in zip(FEATURES, rank_w)}},
        "answerability": {"weights": {f: round(float(w), 6) for f, w in zip(ANSWERABILITY_FEATURES, ans_w)}},
        "continuation": {
            "threshold": cont_threshold,
            "weights": {f: round(float(w), 6) for f, w in zip(CONTINUATION_FEATURES, cont_w)},
        },
    }
    if identity is not None:
        out["identity"] = identity
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(out["held_out"], indent=1))
    print(f"default threshold {threshold} -> {args.out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
