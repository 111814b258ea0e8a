"""Collecting layers: unused ones go, then least recently used images while over the cap; what
is kept still runs."""

from __future__ import annotations

import os
import time

from gworker.images import ImageBuilder, gc
from gworker_client._image import Image


def test_collection_keeps_images_in_use_and_drops_the_rest(tmp_path, uv_cache, run_python):
    builder = ImageBuilder(tmp_path / "images", lambda sha: b"", uv_cache=uv_cache)
    kept = builder.build(Image.debian_slim().run_commands("echo kept > /kept.txt").to_spec())
    old = builder.build(Image.debian_slim().run_commands("echo old > /old.txt").to_spec())
    store = builder.store
    os.utime(store.root / "images" / f"{old.key}.json", (time.time() - 3600,) * 2)

    roomy = gc.collect(store, cap=10 * 1024**4, keep=())
    assert roomy.images == [] and roomy.layers == []  # under the cap: nothing goes

    done = gc.collect(store, cap=0, keep={kept.key})
    assert old.key in done.images and old.layers[-1] in done.layers
    assert kept.layers[-1] not in done.layers and store.has(kept.layers[0])
    assert store.image(old.key) is None and not (store.root / "layers" / old.layers[-1]).exists()
    assert run_python(kept, "print(open('/kept.txt').read())").stdout.strip() == "kept"
    # an image collected is simply built again
    again = builder.build(Image.debian_slim().run_commands("echo old > /old.txt").to_spec())
    assert run_python(again, "print(open('/old.txt').read())").stdout.strip() == "old"
