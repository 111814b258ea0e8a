"""Bucket mounts against a local S3-compatible server (moto): its URL comes from the test's
environment when the app is published (containers read it from their spec)."""

from __future__ import annotations

import errno
import os

import gworker_client as gw

ENDPOINT = os.environ.get("GW_TEST_S3_URL", "http://127.0.0.1:9")
creds = gw.Secret.from_dict(
    {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
)
bucket = gw.CloudBucketMount("gw-data", bucket_endpoint_url=ENDPOINT, secret=creds)
prefixed = gw.CloudBucketMount(
    "gw-data", bucket_endpoint_url=ENDPOINT, key_prefix="sub/", secret=creds, read_only=True
)

app = gw.App("bucket-app")


@app.function(volumes={"/bucket": bucket})
def listing() -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, n), "/bucket")
        for d, _, names in os.walk("/bucket")
        for n in names
    )


@app.function(volumes={"/bucket": bucket})
def write(name: str, text: str) -> None:
    os.makedirs(os.path.dirname(f"/bucket/{name}"), exist_ok=True)
    with open(f"/bucket/{name}", "w") as f:
        f.write(text)


@app.function(volumes={"/bucket": bucket})
def remove(name: str) -> None:
    os.remove(f"/bucket/{name}")


@app.function(volumes={"/sub": prefixed})
def read_only(name: str) -> str:
    with open(f"/sub/{name}") as f:
        text = f.read()
    try:
        open(f"/sub/{name}", "w").close()
    except OSError as e:  # a read-only mount: EROFS (EACCES where file modes refuse it)
        if e.errno not in (errno.EROFS, errno.EACCES):
            raise
        return f"{text} (read-only)"
    return f"{text} (writable)"
