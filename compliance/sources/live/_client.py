"""AWS calls for the collectors: standard retries, paginators, and errors turned into facts.

``Scan.call`` returns the response, or None when the error code says the thing is simply not configured
(``absent=``: NoSuchBucketPolicy and friends). Any other failure raises ``Unavailable`` naming the API and
the error: AccessDenied, throttling beyond the retries, an API the endpoint does not implement (moto answers
those with HTTP 500 or NotImplementedError). Collectors turn Unavailable into a Gap (a whole kind) or an
unreadable marker (one resource's value); controls turn both into ERROR.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers

from compliance.errors import IncompleteError

UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)


class Unavailable(Exception):
    def __init__(self, api: str, error: str) -> None:
        super().__init__(f"{api}: {error}")
        self.api = api
        self.error = error


def _api_name(client: Any, operation: str) -> str:
    prefix = client.meta.service_model.metadata.get("signingName") or client.meta.service_model.service_name
    return f"{prefix}:{client.meta.method_to_api_mapping.get(operation, operation)}"


@dataclass
class Scan:
    """One scan's clients and counters. Clients are made up front (session creation is not thread-safe);
    calls on them run concurrently."""

    session: boto3.Session
    endpoint_url: str | None
    max_attempts: int = 4
    regions: list[str] = field(default_factory=list)  # every region the scan covers
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Held while a client is made. Scans that run side by side (a fleet) share one, so the service models their
    # sessions share are parsed once, not by every scan at the same time.
    client_lock: AbstractContextManager[Any] = field(default_factory=threading.Lock)
    _count_lock: threading.Lock = field(default_factory=threading.Lock)
    calls: int = 0

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self.client_lock:  # a boto3 Session is not thread-safe; the clients it makes are
            return self._make_client(key)

    def _make_client(self, key: tuple[str, str]) -> Any:
        service, region = key
        if key not in self._clients:
            config = botocore.config.Config(
                retries={"mode": "standard", "max_attempts": self.max_attempts},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=16,
                # A custom endpoint (moto, a proxy) cannot take S3 Control's "<account>." host prefix.
                inject_host_prefix=self.endpoint_url is None,
            )
            client = self.session.client(service, region_name=region, endpoint_url=self.endpoint_url, config=config)  # type: ignore[call-overload]
            if service == "s3control" and self.endpoint_url:
                # S3 Control's endpoint rules put "<account>." before any host, a custom one included;
                # an emulator on 127.0.0.1 cannot answer that name. Undo it before the request is signed.
                client.meta.events.register("before-sign.s3-control", _strip_account_host_prefix)
            self._clients[key] = client
        return self._clients[key]

    def _count(self) -> None:
        with self._count_lock:
            self.calls += 1

    def call(self, client: Any, operation: str, absent: tuple[str, ...] = (), **kwargs: Any) -> Any:
        self._count()
        try:
            return getattr(client, operation)(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every exception is translated or re-raised below
            if _code(exc) in absent:
                return None
            raise _translate(exc, client, operation) from None

    def pages(self, client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
        """Every item under ``key`` across all pages (paginator when the API has one)."""
        if not client.can_paginate(operation):
            yield from (self.call(client, operation, **kwargs) or {}).get(key, [])
            return
        iterator = iter(client.get_paginator(operation).paginate(**kwargs))
        while True:
            try:
                page = next(iterator)  # one HTTP request, unless the last page was already seen
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - translated or re-raised
                self._count()
                raise _translate(exc, client, operation) from None
            self._count()
            yield from page.get(key, [])


def _strip_account_host_prefix(request: Any, **_: Any) -> None:
    parts = urlsplit(request.url)
    host, _, rest = parts.netloc.partition(".")
    if host.isdigit() and len(host) == 12:
        request.url = urlunsplit(parts._replace(netloc=rest))


def _code(exc: Exception) -> str | None:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return None


def _translate(exc: Exception, client: Any, operation: str) -> Exception:
    """Unavailable for what makes one fact unknowable; IncompleteError when nothing can work; else exc itself."""
    api = _api_name(client, operation)
    if isinstance(exc, botocore.exceptions.ClientError):
        code = _code(exc) or "Unknown"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 500 and code in ("500", "InternalError", "InternalFailure"):
            return Unavailable(api, "the endpoint does not implement it (HTTP 500)")
        return Unavailable(api, code)
    if isinstance(exc, botocore.parsers.ResponseParserError):  # moto's HTML page for an unimplemented API
        return Unavailable(api, "the endpoint does not implement it (unparseable HTTP 500 answer)")
    if isinstance(exc, NotImplementedError):
        return Unavailable(api, "the endpoint does not implement it")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return IncompleteError("No AWS credentials found (profile, environment or instance role).")
    if isinstance(exc, UNREACHABLE):
        return Unavailable(api, f"unreachable ({exc.__class__.__name__})")
    return exc
