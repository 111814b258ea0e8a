"""The class examples of the Modal reference, with only the import line changed (and the
model loading replaced: this machine cannot download weights)."""

import gworker_client as modal

app = modal.App("modal-classes", image=modal.Image.debian_slim().pip_install("torch==2.13.0"))


class _Tokenizer:
    def __call__(self, prompt, return_tensors=None):
        return {"input_ids": list(prompt)}

    def decode(self, ids):
        return "".join(ids)


class _CausalLM:
    def generate(self, input_ids):
        return [list(reversed(input_ids))]


@app.cls(gpu="A100", container_idle_timeout=300)
class ModelServer:
    @modal.enter()
    def load_model(self):
        """Called once when container starts"""
        self.model = _CausalLM()
        self.tokenizer = _Tokenizer()

    @modal.method()
    def generate(self, prompt: str) -> str:
        """Called for each request"""
        inputs = self.tokenizer(prompt, return_tensors="pt")
        outputs = self.model.generate(**inputs)
        return self.tokenizer.decode(outputs[0])

    @modal.exit()
    def cleanup(self):
        """Called when container shuts down"""
        import torch

        del self.model
        torch.cuda.empty_cache()


def process_item(item):
    return item * 2


@app.cls()
class BatchProcessor:
    @modal.concurrent(max_inputs=100, target_inputs=80)
    @modal.method()
    def process(self, item):
        return process_item(item)
