"""gw.CloudBucketMount against a local S3-compatible server (moto): objects are in the mount
when a container starts, and a call's writes and deletions reach the bucket before its result."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import server as moto_server

import gworker_client as gw


@pytest.fixture(scope="module")
def s3(server) -> Iterator[object]:
    srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ["GW_TEST_S3_URL"] = url
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="gw-data")
    yield client
    srv.stop()
    del os.environ["GW_TEST_S3_URL"]


def _body(client, key: str) -> str:  # type: ignore[no-untyped-def]
    return client.get_object(Bucket="gw-data", Key=key)["Body"].read().decode()


def test_objects_in_and_writes_out(s3):
    s3.put_object(Bucket="gw-data", Key="in/a.txt", Body=b"from the bucket")
    s3.put_object(Bucket="gw-data", Key="sub/b.txt", Body=b"under the prefix")
    import bucket_app

    bucket_app = importlib.reload(bucket_app)  # its endpoint is the fixture's server
    with bucket_app.app.run():
        assert bucket_app.listing.remote() == ["in/a.txt", "sub/b.txt"]
        bucket_app.write.remote("out/new file.txt", "written in a container")
        assert _body(s3, "out/new file.txt") == "written in a container"
        bucket_app.remove.remote("in/a.txt")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="gw-data")["Contents"]}
        assert "in/a.txt" not in keys and "out/new file.txt" in keys
        assert bucket_app.read_only.remote("b.txt") == "under the prefix (read-only)"
        assert _body(s3, "sub/b.txt") == "under the prefix"


def test_bad_arguments_are_refused():
    with pytest.raises(gw.exception.InvalidError, match="key_prefix='data' must end with '/'"):
        gw.CloudBucketMount("bucket", key_prefix="data")
    with pytest.raises(gw.exception.InvalidError, match="oidc_auth_role_arn is not supported"):
        gw.CloudBucketMount("bucket", oidc_auth_role_arn="arn:aws:iam::1:role/x")
    with pytest.raises(gw.exception.InvalidError, match="must be an http:// or https:// URL"):
        gw.CloudBucketMount("bucket", bucket_endpoint_url="s3.local")
    one = gw.Secret.from_dict({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    two = gw.Secret.from_dict({"AWS_ACCESS_KEY_ID": "c", "AWS_SECRET_ACCESS_KEY": "d"})
    app = gw.App("bucket-bad")
    with pytest.raises(gw.exception.InvalidError, match="give them one secret"):
        app.function(
            volumes={
                "/a": gw.CloudBucketMount("bucket-a", secret=one),
                "/b": gw.CloudBucketMount("bucket-b", secret=two),
            }
        )(lambda: None)
