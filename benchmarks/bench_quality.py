"""What per-prompt quality prediction costs a request.

1. The shipped predictor (`router.quality.trained`, pure Python) scoring a 1,000-token
   prompt for 10 models: the prompt's encoding (difficulty, gap: binary TF-IDF over its
   words and word pairs) plus 10 logits. Target: p50 <= 1 ms. Beside it, the one-off
   cost of parsing the artifact (`default_model()`, on the first plan of a process).
2. `Router.plan` over the 10 deployments with the trained scorer, next to the same
   Router with `prior_scorer` (one constant per deployment), interleaved call by call:
   the difference is what prediction adds to a decision (with `free-first`'s ranking of
   the gain of paying, a binary search once the pair's reference gains are known).
   Beside it, the one-off cost of those reference gains: the best free and best paid
   deployments scored on the reference encodings, once per pair and scorer.

Prompts: three ~1,000-token (cl100k) prompts, prose, a multiple-choice block and code,
built from benchmarks/_prompts.py. No network.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prompts

import router
from router.decision._features import _encoding
from router.decision._scoring import prior_scorer
from router.quality.trained import TrainedModel, TrainedPredictor, default_model

TARGET_P50_MS = 1.0
ROUNDS = 40
MODELS = [
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "claude-v2",
    "mistralai/mixtral-8x7b-chat",
    "meta/llama-2-70b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "qwen2.5-7b-instruct",
    "deepseek-chat",
    "gpt-4o",
    "llama-3.3-70b-instruct",
]
_MCQ = (
    "Which of the following best explains why the northern routes lose riders?\n"
    "A. They run twice an hour\nB. They follow closed factories\n"
    "C. Fares rose by 12%\nD. All of the above\nAnswer:"
)
_CODE = (
    "Write a Python function that merges overlapping intervals.\n```python\n"
    "def merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n"
    "    out = []\n    for a, b in sorted(intervals):\n"
    "        if out and a <= out[-1][1]:\n            out[-1] = (out[-1][0], max(out[-1][1], b))\n"
    "        else:\n            out.append((a, b))\n    return out\n```\n"
)


def thousand_tokens(seed_text: str) -> str:
    enc = _encoding()
    text = seed_text
    while len(enc.encode_ordinary(text)) < 1000:
        text += "\n\n" + seed_text
    ids = enc.encode_ordinary(text)[:1000]
    decode = getattr(enc, "decode")  # noqa: B009  (the protocol only declares encoding)
    return str(decode(ids))


def prompts() -> list[str]:
    return [thousand_tokens(t) for t in (_prompts.REPORT, _MCQ + "\n\n", _CODE)]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def bench_scorer(texts: list[str]) -> float:
    predictor = TrainedPredictor(default_model())
    for t in texts:
        predictor.predict([t], MODELS)
    times = []
    for _ in range(ROUNDS):
        for t in texts:
            t0 = time.perf_counter()
            predictor.predict([t], MODELS)
            times.append(time.perf_counter() - t0)
    return median_ms(times)


def bench_encode(texts: list[str]) -> float:
    encode = default_model().encode
    times = []
    for _ in range(ROUNDS):
        for t in texts:
            t0 = time.perf_counter()
            encode(t)
            times.append(time.perf_counter() - t0)
    return median_ms(times)


def bench_load(data: bytes, rounds: int = 5) -> float:
    """Parsing the artifact's bytes into a model (what `default_model()` does once)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        TrainedModel(json.loads(data), "bench")
        times.append(time.perf_counter() - t0)
    return median_ms(times)


def bench_reference_gains(rounds: int = 20) -> float:
    """The first `gain_percentile` for a deployment pair: its gains on the reference."""
    r = router.Router(deployments())
    free = next(d for d in r.deployments if d.input_usd_per_token == 0)
    paid = next(d for d in r.deployments if d.input_usd_per_token > 0)
    features = r.plan([{"role": "user", "content": "hello"}]).features
    times = []
    for _ in range(rounds):
        scorer = TrainedPredictor(default_model())
        t0 = time.perf_counter()
        scorer.gain_percentile(features, free, paid, 0.1)
        times.append(time.perf_counter() - t0)
    return median_ms(times)


def deployments() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i, m in enumerate(MODELS):
        if i % 3 == 0:
            out.append(
                {
                    "name": f"local-{i}",
                    "model": f"openai/{m}",
                    "api_base": "http://127.0.0.1:8080/v1",
                    "context_window": 32768,
                }
            )
        else:
            out.append(
                {
                    "name": f"api-{i}",
                    "model": "gpt-4o-mini",
                    "api_key_env": "OPENAI_API_KEY",
                    "quality": 0.5 + i / 40,
                }
            )
    return out


def bench_plan(texts: list[str]) -> tuple[float, float]:
    trained = router.Router(deployments())
    prior = router.Router(deployments(), scorer=prior_scorer)
    msgs = [[{"role": "user", "content": t}] for t in texts]
    for m in msgs:
        trained.plan(m)
        prior.plan(m)
    a: list[float] = []
    b: list[float] = []
    for i in range(ROUNDS):
        for m in msgs:
            pair = ((trained, a), (prior, b)) if i % 2 else ((prior, b), (trained, a))
            for r, out in pair:
                t0 = time.perf_counter()
                r.plan(m)
                out.append(time.perf_counter() - t0)
    return median_ms(a), median_ms(b)


def main() -> None:
    texts = prompts()
    gc.collect()
    score = bench_scorer(texts)
    enc = bench_encode(texts)
    with_pred, with_prior = bench_plan(texts)
    gains = bench_reference_gains()
    verdict = "PASS" if score <= TARGET_P50_MS else "MISS"
    data = Path(router.__file__).with_name("data").joinpath("quality-model.json").read_bytes()
    load = bench_load(data)
    print(
        f"artifact: router/data/quality-model.json, {len(data) / 1e3:.0f} KB (target <= 25 MB), "
        f"{len(default_model().vocabulary):,} terms; parsed once per process in p50 {load:.0f} ms"
    )
    print(
        f"score one 1,000-token prompt for {len(MODELS)} models: p50 {score:.3f} ms "
        f"(of which the encoding {enc:.3f} ms)  target <= {TARGET_P50_MS} ms  {verdict}"
    )
    print(
        f"Router.plan, 10 deployments, 1,000-token prompt: trained scorer p50 "
        f"{with_pred:.3f} ms vs prior scorer {with_prior:.3f} ms "
        f"(+{with_pred - with_prior:.3f} ms, x{with_pred / with_prior:.2f})"
    )
    print(
        f"reference gains of a deployment pair ({len(default_model().reference)} encodings), "
        f"once per pair: p50 {gains:.3f} ms"
    )


if __name__ == "__main__":
    main()
