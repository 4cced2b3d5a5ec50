"""Classification throughput on one core, over realistic article texts.

The corpus is the labelled evaluation articles (../shared/data/eval, header lines stripped) and
the project's seeds, repeated until it holds --articles texts. The packaged taxonomy is loaded
once before timing (its load time is printed separately), as it is in a real run.

    python bench/bench_classify.py [--articles 3000] [--target 200]

Prints articles/s and MB/s, and the learned layer's share of the time (its features from the
sentence flags, plus the logistic regression); exits 1 when below the target (200 articles/s
by default) on the full-length articles.
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.classify import Taxonomy, classify, load_model, load_taxonomy  # noqa: E402
from monitor.classify.classifier import analyse, relevance_inputs  # noqa: E402
from monitor.classify.relevance import features  # noqa: E402
from monitor.evaluate import read_eval_dir  # noqa: E402
from monitor.models import SeedFile  # noqa: E402
from monitor.seeds import (  # noqa: E402
    clean_text,
    find_seed_files,
    read_seed,
)

EVAL_DIR = ROOT.parent / "shared" / "data" / "eval"


def corpus(eval_dir: Path) -> list[tuple[str | None, str]]:
    """(title, text) of the evaluation articles (when present) and the seeds."""
    texts: list[tuple[str | None, str]] = []
    if (eval_dir / "index.tsv").is_file():
        cleaned = [clean_text(item.body) for item in read_eval_dir(eval_dir)]
        texts += [(c.title, c.text) for c in cleaned]
    else:
        print(f"note: no evaluation folder at {eval_dir}; seeds only")
    files, _ = find_seed_files([ROOT / "seeds"])
    for seed in files:
        article = read_seed(SeedFile(seed.path), max_bytes=10_000_000)
        texts.append((article.title, article.text))
    return texts


def learned_layer_seconds(taxonomy: Taxonomy, docs: list[tuple[str | None, str]]) -> float:
    """CPU seconds the learned layer takes over `docs`: features from the (already computed)
    sentence flags, rules' score and stance cues, then the model's probability."""
    model = load_model()
    inputs = [relevance_inputs(taxonomy, a) for a in (analyse(taxonomy, *d) for d in docs)]
    sentences = [analyse(taxonomy, *d).sentences for d in docs]
    started = time.process_time()
    for sents, inp in zip(sentences, inputs, strict=True):
        if inp is not None:
            model.probability(features(taxonomy, sents, inp.flags, inp.rules, inp.stance))
    return time.process_time() - started


def main() -> int:
    """Time classification of the corpus and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--target", type=float, default=200.0)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    args = parser.parse_args()

    base = corpus(args.eval_dir)
    docs = list(islice(cycle(base), args.articles))
    chars = sum(len(text) + len(title or "") for title, text in docs)

    started = time.perf_counter()
    taxonomy = load_taxonomy()
    load_s = time.perf_counter() - started

    classify("warm-up", *docs[0], taxonomy=taxonomy)
    relevant = 0
    started = time.process_time()
    wall = time.perf_counter()
    for i, (title, text) in enumerate(docs):
        relevant += classify(str(i), title, text, taxonomy=taxonomy).relevant
    cpu_s = time.process_time() - started
    wall_s = time.perf_counter() - wall

    rate = len(docs) / cpu_s
    model_s = learned_layer_seconds(taxonomy, docs)
    print(
        f"corpus: {len(base)} distinct texts repeated to {len(docs)} articles, "
        f"{chars / len(docs):,.0f} chars each on average"
    )
    print(f"taxonomy load: {load_s * 1000:.1f} ms (once per process)")
    print(
        f"classified {len(docs)} articles in {cpu_s:.2f} s CPU ({wall_s:.2f} s wall), "
        f"{relevant} relevant"
    )
    print(
        f"throughput: {rate:,.0f} articles/s on one core "
        f"({chars / cpu_s / 1e6:.2f} MB/s, {cpu_s / len(docs) * 1000:.2f} ms per article)"
    )
    print(
        f"learned layer (features + logistic regression): {model_s / len(docs) * 1e6:.1f} us "
        f"per article, {model_s / cpu_s:.1%} of the classification time"
    )
    ok = rate >= args.target

    # The evaluation texts are often cut short; full-length articles cost more per article.
    seeds = [doc for doc in base if len(doc[1]) > 3000]
    if seeds:
        long_docs = list(islice(cycle(seeds), max(100, args.articles // 10)))
        long_chars = sum(len(text) for _, text in long_docs) / len(long_docs)
        started = time.process_time()
        for i, (title, text) in enumerate(long_docs):
            classify(str(i), title, text, taxonomy=taxonomy)
        long_s = time.process_time() - started
        long_rate = len(long_docs) / long_s
        long_model_s = learned_layer_seconds(taxonomy, long_docs)
        print(
            f"full-length articles only ({long_chars:,.0f} chars on average): "
            f"{long_rate:,.0f} articles/s on one core; learned layer "
            f"{long_model_s / len(long_docs) * 1e6:.1f} us per article, "
            f"{long_model_s / long_s:.1%} of the time"
        )
        ok = ok and long_rate >= args.target
    print(f"target {args.target:,.0f} articles/s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
