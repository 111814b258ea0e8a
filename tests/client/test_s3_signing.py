"""The bucket mounts' S3 request signing, checked against AWS's published Signature Version 4
example (GET Object, from the S3 API reference)."""

from __future__ import annotations

import datetime

from gworker_client._runtime.s3 import _EMPTY_SHA256, Credentials, _sign


def test_signature_matches_the_aws_example():
    creds = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    when = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)
    headers = {"Range": "bytes=0-9", "x-amz-content-sha256": _EMPTY_SHA256}
    signed = _sign(
        "GET", "https://examplebucket.s3.amazonaws.com/test.txt", headers, creds, "us-east-1", when
    )
    assert signed["x-amz-date"] == "20130524T000000Z"
    assert signed["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        " SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        " Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
