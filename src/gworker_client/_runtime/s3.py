"""A minimal S3 client for bucket mounts: list, get, put and delete objects with AWS Signature
Version 4, over the standard library only (the runtime runs in every image).

Path-style addressing (``<endpoint>/<bucket>/<key>``), which every S3-compatible service takes.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote, urlencode, urlsplit
from xml.etree import ElementTree

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CHUNK = 1024 * 1024


class S3Error(Exception):
    """A request the bucket's service refused."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None

    @classmethod
    def from_env(cls) -> Credentials | None:
        """AWS's variables, or Google Cloud Storage's HMAC key ones (as Modal reads them)."""
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            return cls(key, secret, os.environ.get("AWS_SESSION_TOKEN"))
        key = os.environ.get("GOOGLE_ACCESS_KEY_ID")
        secret = os.environ.get("GOOGLE_ACCESS_KEY_SECRET")
        return cls(key, secret) if key and secret else None


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class Bucket:
    def __init__(
        self, name: str, endpoint: str | None, creds: Credentials | None, requester_pays: bool
    ) -> None:
        self.name = name
        self.region = region()
        self.endpoint = (endpoint or f"https://s3.{self.region}.amazonaws.com").rstrip("/")
        self.creds = creds
        self.requester_pays = requester_pays

    def _url(self, key: str = "", query: dict[str, str] | None = None) -> str:
        path = f"/{quote(self.name)}" + (f"/{quote(key, safe='/~')}" if key else "")
        # encoded as SigV4 wants it (%20, %2F): the URL's query is then its canonical form
        encoded = urlencode(sorted((query or {}).items()), quote_via=quote, safe="-_.~")
        return self.endpoint + path + (f"?{encoded}" if query else "")

    def _request(
        self,
        method: str,
        url: str,
        body: IO[bytes] | None = None,
        length: int = 0,
        sha256: str = _EMPTY_SHA256,
    ) -> urllib.request.Request:
        headers = {"x-amz-content-sha256": sha256}
        if self.requester_pays:
            headers["x-amz-request-payer"] = "requester"
        if body is not None:
            headers["content-length"] = str(length)
            # else urllib labels the body a form, which some servers then parse away
            headers["content-type"] = "application/octet-stream"
        if self.creds is not None:
            headers.update(_sign(method, url, headers, self.creds, self.region))
        req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
        return req

    def _open(self, req: urllib.request.Request) -> IO[bytes]:
        try:
            return urllib.request.urlopen(req, timeout=60)  # type: ignore[no-any-return]  # noqa: S310
        except urllib.error.HTTPError as e:
            detail = e.read(500).decode(errors="replace")
            raise S3Error(
                f"{req.get_method()} {req.full_url}: {e.code} {e.reason} {detail}"
            ) from None
        except urllib.error.URLError as e:
            raise S3Error(f"{req.get_method()} {req.full_url}: {e.reason}") from None

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``."""
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            with self._open(self._request("GET", self._url(query=query))) as resp:
                root = ElementTree.fromstring(resp.read())
            for item in root.iter(f"{_NS}Contents"):
                yield item.findtext(f"{_NS}Key") or "", int(item.findtext(f"{_NS}Size") or 0)
            if root.findtext(f"{_NS}IsTruncated") != "true":
                return
            token = root.findtext(f"{_NS}NextContinuationToken")

    def get(self, key: str, out: IO[bytes]) -> None:
        with self._open(self._request("GET", self._url(key))) as resp:
            while chunk := resp.read(CHUNK):
                out.write(chunk)

    def put(self, key: str, path: str) -> None:
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        with open(path, "rb") as f:
            req = self._request("PUT", self._url(key), f, size, digest.hexdigest())
            self._open(req).close()

    def delete(self, key: str) -> None:
        self._open(self._request("DELETE", self._url(key))).close()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _sign(
    method: str,
    url: str,
    headers: dict[str, str],
    creds: Credentials,
    region: str,
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """The headers that sign this request (AWS Signature Version 4, service ``s3``)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urlsplit(url)
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    if creds.session_token:
        signed["x-amz-security-token"] = creds.session_token
    names = sorted(signed)
    query = parts.query  # built sorted and encoded by Bucket._url
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            signed["x-amz-content-sha256"],
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + creds.secret_key).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out: dict[str, str] = {
        n: signed[n] for n in ("x-amz-date", "x-amz-security-token") if n in signed
    }
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope},"
        f" SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out
