"""The media store: `MEDIA_STORAGE=local` (files under MEDIA_ROOT) or `s3` (an S3-compatible
bucket through boto3).

Keys are made here, random (`new_key()`: 32 hex characters under a two-character folder),
never from a name a user or a platform chose: no path can be steered. `put(key, chunks)` writes
a file from an iterator of bytes; `get(key)` answers an iterator of its bytes (closed by the
caller when it stops early); `delete(key)` removes it.
"""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import current_app

KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{32}$")
CHUNK = 64 * 1024


class StorageError(Exception):
    """The store could not be reached or answered an error."""


def new_key() -> str:
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"


def _checked(key: str) -> str:
    if not isinstance(key, str) or not KEY.match(key):
        raise StorageError("not a media key")
    return key


class LocalStorage:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        try:
            with open(partial, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            os.replace(partial, path)
        except BaseException as exc:
            partial.unlink(missing_ok=True)  # whatever stopped it: nothing half-written stays
            if isinstance(exc, OSError) and not hasattr(exc, "response"):
                raise StorageError(f"could not write the file: {exc.strerror}") from exc
            raise

    def get(self, key: str) -> Iterator[bytes]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the generator
        except OSError as exc:
            raise StorageError("the file is missing") from exc

        def chunks():
            with handle:
                while block := handle.read(CHUNK):
                    yield block
        return chunks()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """An S3-compatible bucket (AWS, MinIO, Ceph, …) through boto3; `endpoint` empty means AWS."""

    def __init__(self, bucket: str, endpoint: str = "", region: str = "us-east-1",
                 access_key: str = "", secret_key: str = "") -> None:
        import boto3
        from botocore.config import Config

        if not bucket:
            raise StorageError("MEDIA_S3_BUCKET is not set")
        self.bucket = bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint or None, region_name=region or None,
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=10, read_timeout=60, s3={"addressing_style": "path"}))

    def put(self, key: str, chunks: Iterable[bytes]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        body = b"".join(chunks)  # capped upstream (MEDIA_MAX_BYTES)
        try:
            self.client.put_object(Bucket=self.bucket, Key=_checked(key), Body=body)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 put failed: {type(exc).__name__}") from exc

    def get(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=_checked(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 get failed: {type(exc).__name__}") from exc
        body = answer["Body"]

        def chunks():
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()
        return chunks()

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=_checked(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 delete failed: {type(exc).__name__}") from exc


def storage(app=None):
    """The app's media store (one per app, made on first use)."""
    app = app or current_app._get_current_object()
    store = app.extensions.get("relaydesk_media_storage")
    if store is None:
        config = app.config
        if (config.get("MEDIA_STORAGE") or "local") == "s3":
            store = S3Storage(config.get("MEDIA_S3_BUCKET") or "",
                              config.get("MEDIA_S3_ENDPOINT") or "",
                              config.get("MEDIA_S3_REGION") or "us-east-1",
                              config.get("MEDIA_S3_ACCESS_KEY") or "",
                              config.get("MEDIA_S3_SECRET_KEY") or "")
        else:
            store = LocalStorage(config.get("MEDIA_ROOT") or "instance/media")
        app.extensions["relaydesk_media_storage"] = store
    return store


def read_all(key: str, limit: int | None = None) -> bytes:
    data = bytearray()
    for chunk in storage().get(key):
        data += chunk
        if limit is not None and len(data) > limit:
            raise StorageError("the file is larger than expected")
    return bytes(data)
