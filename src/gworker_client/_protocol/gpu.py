"""GPU types and how a device satisfies a request: shared by the SDK (parsing ``gpu=``) and the
backends (placing containers on devices)."""

from __future__ import annotations

# Canonical types, with the names NVML and users also use for them.
KNOWN_TYPES = ("T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100", "H200", "B200")
# A request for the key is met by any of the types in the value.
FAMILIES = {"A100": ("A100-40GB", "A100-80GB")}


def matches(requested: str, device_type: str) -> bool:
    """Whether a device of ``device_type`` satisfies a request for ``requested``."""
    return requested in ("any", device_type) or device_type in FAMILIES.get(requested, ())
