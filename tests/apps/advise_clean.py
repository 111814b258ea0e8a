"""The same app written the way `gw advise` recommends: no rule fires on it."""

import gworker_client as gw

image = gw.Image.debian_slim().uv_pip_install("torch", "requests")
app = gw.App("advise-clean", image=image)

with image.imports():
    import requests
    import torch


@app.cls(gpu=["H100", "A100-80GB"], idle_timeout=300)
class Model:
    @gw.enter()
    def load(self):
        from transformers import AutoModel

        self.model = AutoModel.from_pretrained("bert-base-uncased")

    @gw.method()
    @gw.batched(max_batch_size=64, wait_ms=20)
    def predict(self, texts: list[str]):
        return self.model(texts)


@app.function(timeout=30, retries=gw.Retries(max_retries=3))
def fetch(url: str) -> str:
    return requests.get(url, timeout=10).text


@app.function(schedule=gw.Cron("0 6 * * *"))
def nightly() -> int:
    return torch.zeros(1).numel()


@app.local_entrypoint()
def main():
    pages = list(fetch.map(["https://example.com"] * 3))
    print(len(pages), list(Model().predict.map(["a", "b"])))
