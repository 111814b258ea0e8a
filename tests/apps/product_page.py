"""The class-tasks product page's examples, as written; only the model stand-ins are local
(this machine cannot download weights): ``load_model`` and ``load_embedding_model``."""

import gworker_client as gw

app = gw.App("inference-server", image=gw.Image.debian_slim().pip_install("torch==2.13.0", "numpy"))


class _Model:
    """A tiny stand-in model with the methods the page's examples call."""

    def generate(self, prompt: str) -> str:
        return prompt[::-1]

    def cuda(self) -> "_Model":
        return self

    async def aencode(self, text: str) -> list[float]:
        return [float(len(text))]

    def encode(self, texts):
        import numpy as np

        return np.array([[float(len(t))] for t in texts])

    def predict(self, text: str) -> float:
        return 0.9 if "great" in text else 0.1


def load_model(path: str) -> _Model:
    return _Model()


def load_embedding_model() -> _Model:
    return _Model()


@app.cls(gpu=gw.Gpu("H100"))
class LLMServer:
    @gw.on_enter()
    async def load(self):
        import torch  # noqa: F401  (the page imports it; a CPU build is fine here)

        self.model = load_model("/models/llama-3")
        self.model.cuda()

    @gw.on_exit()
    async def unload(self):
        import torch

        del self.model
        torch.cuda.empty_cache()

    @gw.method()
    async def generate(self, prompt: str) -> str:
        return self.model.generate(prompt)


@app.cls(gpu=gw.Gpu("A100"))
@gw.concurrent(max_inputs=16)
class EmbedServer:
    @gw.on_enter()
    def load(self):
        self.model = load_embedding_model()

    @gw.method()
    async def embed(self, text: str) -> list[float]:
        return await self.model.aencode(text)


@app.cls(gpu=gw.Gpu("A100"))
@gw.concurrent(max_inputs=128)
class BatchEmbedder:
    @gw.on_enter()
    def load(self):
        self.model = load_embedding_model()

    @gw.method()
    @gw.batched(max_batch_size=64, wait_ms=20)
    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts).tolist()


@app.cls(
    gpu=gw.Gpu("A100"),
    probes=[gw.Probe.on("health", kind="liveness", period_s=30, failures=3)],
)
class Model:
    @gw.on_enter()
    def load(self):
        self.model = load_embedding_model()

    @gw.method()
    def health(self) -> dict:
        return {"ok": self.model is not None}

    @gw.method()
    def predict(self, x: list[float]) -> float:
        return sum(x)


@app.cls(gpu=gw.Gpu("A100"))
class Classifier:
    threshold: float = gw.parameter(default=0.5)

    @gw.on_enter()
    def load(self):
        self.model = load_embedding_model()

    @gw.method()
    def classify(self, text: str) -> str:
        score = self.model.predict(text)
        return "positive" if score > self.threshold else "negative"
