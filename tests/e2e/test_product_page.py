"""Every example on the class-tasks product page runs as written (simulated GPUs)."""

from __future__ import annotations

import product_page as page
import pytest


@pytest.fixture(scope="module")
def running(gpu_server):
    with page.app.run():
        yield


def test_llm_server_with_async_hooks(running):
    assert page.LLMServer().generate.remote("abc") == "cba"


def test_concurrent_embed_server(running):
    assert list(page.EmbedServer().embed.map(["a", "bb"])) == [[1.0], [2.0]]


def test_batch_embedder(running):
    assert list(page.BatchEmbedder().embed.map(["a", "bb", "ccc"])) == [[1.0], [2.0], [3.0]]


def test_model_with_probe(running):
    assert page.Model().predict.remote([1.0, 2.0]) == 3.0
    assert page.Model().health.remote() == {"ok": True}


def test_classifier_runtime_parameters(running):
    assert page.Classifier().classify.remote("great product!") == "positive"
    result = page.Classifier(threshold=0.95).classify.remote("great product!")
    assert result == "negative"
