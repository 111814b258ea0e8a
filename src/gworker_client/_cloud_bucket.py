"""``CloudBucketMount``: an S3-compatible bucket (or a prefix of one) as a directory in
containers, mounted with ``volumes={"/bucket": gw.CloudBucketMount(...)}``.

There is no FUSE here: a container downloads the bucket's objects under ``key_prefix`` into the
mount directory when it starts, and uploads what a call created, changed or deleted there before
the call's result is returned (and once more when the container stops). Other containers see
those writes when they start. ``read_only=True`` makes the files read-only and uploads nothing.
"""

from __future__ import annotations

from typing import Any

from ._protocol import BucketMount
from ._secret import Secret
from .exception import InvalidError


class CloudBucketMount:
    """An S3-compatible bucket mounted into containers (Modal's ``CloudBucketMount``).

    ::

        creds = gw.Secret.from_name("s3-creds")   # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
        bucket = gw.CloudBucketMount(
            "datasets", bucket_endpoint_url="http://minio.internal:9000", secret=creds
        )

        @app.function(volumes={"/data": bucket})
        def count():
            return len(os.listdir("/data"))

    ``bucket_endpoint_url`` names any S3-compatible service (default: AWS S3 in
    ``AWS_REGION``); ``key_prefix`` mounts only the objects under it (ending in ``/``). The
    ``secret``'s variables are the credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    optionally ``AWS_SESSION_TOKEN`` and ``AWS_REGION``); they are also in the container's
    environment. Without one, requests are unsigned (public buckets).
    """

    def __init__(
        self,
        bucket_name: str,
        bucket_endpoint_url: str | None = None,
        key_prefix: str | None = None,
        secret: Secret | None = None,
        oidc_auth_role_arn: str | None = None,
        read_only: bool = False,
        requester_pays: bool = False,
    ) -> None:
        where = f"CloudBucketMount({bucket_name!r})"
        if not isinstance(bucket_name, str) or not 3 <= len(bucket_name) <= 63:
            raise InvalidError(f"{where}: a bucket name is 3 to 63 characters")
        if bucket_endpoint_url is not None and not (
            isinstance(bucket_endpoint_url, str)
            and bucket_endpoint_url.startswith(("http://", "https://"))
        ):
            raise InvalidError(
                f"{where}: bucket_endpoint_url={bucket_endpoint_url!r} must be an http:// or"
                " https:// URL"
            )
        if key_prefix is not None and (
            not isinstance(key_prefix, str) or not key_prefix.endswith("/")
        ):
            raise InvalidError(f"{where}: key_prefix={key_prefix!r} must end with '/'")
        if secret is not None and not isinstance(secret, Secret):
            raise InvalidError(f"{where}: secret={secret!r} must be a gw.Secret")
        if oidc_auth_role_arn is not None:
            raise InvalidError(
                f"{where}: oidc_auth_role_arn is not supported (no identity provider here);"
                " give the credentials in secret=gw.Secret(...) instead"
            )
        for flag, value in (("read_only", read_only), ("requester_pays", requester_pays)):
            if not isinstance(value, bool):
                raise InvalidError(f"{where}: {flag}={value!r} must be True or False")
        if requester_pays and secret is None:
            raise InvalidError(f"{where}: requester_pays=True needs credentials (secret=...)")
        self.bucket_name = bucket_name
        self.bucket_endpoint_url = bucket_endpoint_url
        self.key_prefix = key_prefix or ""
        self.secret = secret
        self.read_only = read_only
        self.requester_pays = requester_pays

    def __repr__(self) -> str:
        return f"CloudBucketMount({self.bucket_name!r})"

    def to_mount(self, path: str) -> BucketMount:
        return BucketMount(
            mount_path=path,
            bucket_name=self.bucket_name,
            endpoint_url=self.bucket_endpoint_url,
            key_prefix=self.key_prefix,
            read_only=self.read_only,
            requester_pays=self.requester_pays,
        )


def bucket_secrets(mounts: Any, where: str) -> tuple[Secret, ...]:
    """The credentials of a function's bucket mounts (one secret at most: they share the
    container's environment)."""
    found: list[Secret] = []
    for _, m in mounts:
        if isinstance(m, CloudBucketMount) and m.secret is not None and m.secret not in found:
            found.append(m.secret)
    if len(found) > 1:
        raise InvalidError(
            f"{where}(volumes=...): bucket mounts with different secrets; their credentials"
            " share the container's environment, so give them one secret"
        )
    return tuple(found)
