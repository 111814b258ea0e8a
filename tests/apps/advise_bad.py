"""An app that breaks every rule `gw advise` checks (read by tests/usage/test_advise.py, never
run). Each offending line ends with a comment naming its rule."""

import requests
import torch  # rule: heavy-import

import gworker_client as gw

image = gw.Image.debian_slim().pip_install("torch", "requests")  # rule: uv-pip-install
app = gw.App("advise-bad", image=image)


@app.cls(gpu="H100", min_workers=2, idle_timeout=10)  # rule: gpu-fallbacks
class Model:
    @gw.enter()
    def start(self):
        self.ready = True

    @gw.method()
    def predict(self, text):
        from transformers import AutoModel

        model = AutoModel.from_pretrained("bert-base-uncased")  # rule: load-in-method
        return model([text])  # rule: batched-candidate


@app.function()
def fetch(url: str) -> str:
    return requests.get(url).text  # rule: network-guard


@app.function(schedule=gw.Cron("0 6 * * *"), min_workers=1)  # rule: warm-rarely-called
def nightly() -> int:
    return torch.zeros(1).numel()


@app.local_entrypoint()
def main():
    pages = [fetch.remote(u) for u in ["https://example.com"] * 3]  # rule: remote-in-loop
    print(len(pages), list(Model().predict.map(["a", "b"])))
