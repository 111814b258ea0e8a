"""include_source=False: this module reaches containers through the image, not the code bundle
(and a function can turn it back on)."""

from __future__ import annotations

import gworker_client as gw

image = gw.Image.debian_slim().add_local_python_source("source_app")
app = gw.App("source-app", include_source=False, image=image)


@app.function()
def from_image() -> str:
    return __file__


@app.function(include_source=True)
def from_bundle() -> str:
    return __file__


bare = gw.App("source-missing", include_source=False)


@bare.function(retries=0)
def missing() -> str:
    return "unreachable: no image provides this module"
