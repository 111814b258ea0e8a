"""The identity of an image spec: its version and the digest of each layer prefix. Shared by the
SDK and the image builder, which recomputes digests rather than trusting a client's."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

SPEC_VERSION = 1
# Layer fields that do not change what the layer builds: forcing a rebuild is not part of the
# digest, and a pickled build function's bytes vary between processes (its "identity" field, from
# its source, stands for it).
NOT_IDENTITY = frozenset({"force_build", "function"})


def layer_digests(layers: Sequence[Mapping[str, Any]]) -> list[str]:
    """The digest of each layer prefix: layer ``i``'s digest covers layers ``0..i``."""
    digest = f"gworker-image-v{SPEC_VERSION}"
    out = []
    for layer in layers:
        body = {k: v for k, v in layer.items() if k not in NOT_IDENTITY}
        text = json.dumps([digest, body], sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        out.append(digest)
    return out
