"""What a gitfaas lambda needs: its payload, its answer, publishing child requests.

Standard library only. Every function reads the environment gitfaas gives the lambda when it is
called (not at import), so the module can be imported anywhere; those that need ``FUNCTION_UID``
raise :class:`NotInGitfaasError` when it is missing.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import os
import random
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, Mapping, Optional, Tuple, Union

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_GITFAAS_URL",
    "DEFAULT_TIMEOUT",
    "AnswerFinalError",
    "GitfaasError",
    "GitfaasHTTPError",
    "NotInGitfaasError",
    "function_uid",
    "gitfaas_url",
    "payload",
    "payload_json",
    "payload_text",
    "publish",
    "request_uid",
    "respond",
]

DEFAULT_GITFAAS_URL = "http://gitfaas:5000"
"""Where gitfaas is when ``GITFAAS_URL`` is not set: its Service in the cluster, as in the original."""

DEFAULT_TIMEOUT = 60.0
"""Seconds ``respond``, ``publish`` and a ``PAYLOAD_URL`` fetch keep retrying, all attempts together."""

_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_FUNCTION_UID = re.compile(f"^f-{_UUID}-(r-{_UUID})$")
_FIRST_PAUSE = 0.25
_LONGEST_PAUSE = 8.0
_ATTEMPT_TIMEOUT = 30.0

Params = Mapping[str, Union[str, int, float, bool]]


class GitfaasError(Exception):
    """Base of every error this module raises."""


class NotInGitfaasError(GitfaasError):
    """Not run by gitfaas: ``FUNCTION_UID`` is not set (the manifest gives it as ``{{FUNCTION_UID}}``)."""


class GitfaasHTTPError(GitfaasError):
    """gitfaas refused the call, or could not be reached before the time ran out.

    ``status`` is the HTTP status (``None`` when gitfaas never answered), ``code`` the error code of
    its JSON answer (``STORE_UNAVAILABLE``, ``FUNCTION_NOT_FOUND``…) when it gave one.
    """

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AnswerFinalError(GitfaasHTTPError):
    """The function had already finished when this lambda first tried to answer: the answer was not stored."""


def gitfaas_url() -> str:
    """``GITFAAS_URL`` without its trailing slash, else :data:`DEFAULT_GITFAAS_URL`."""
    return (os.environ.get("GITFAAS_URL") or DEFAULT_GITFAAS_URL).rstrip("/")


def function_uid() -> str:
    """This function's UID, ``f-<uuid>-r-<uuid>`` (``FUNCTION_UID``): where it answers."""
    uid = os.environ.get("FUNCTION_UID")
    if not uid:
        raise NotInGitfaasError(
            "FUNCTION_UID is not set: this runs outside gitfaas (the manifest gives it with "
            'value: "{{FUNCTION_UID}}")'
        )
    return uid


def request_uid() -> str:
    """The request this function belongs to: ``REQUEST_UID``, else the ``r-<uuid>`` end of the function UID."""
    given = os.environ.get("REQUEST_UID")
    if given:
        return given
    uid = function_uid()
    match = _FUNCTION_UID.match(uid)
    if not match:
        raise GitfaasError(f"FUNCTION_UID {uid!r} is not f-<uuid>-r-<uuid>, and REQUEST_UID is not set")
    return match.group(1)


_payload_cache: Optional[bytes] = None


def payload() -> bytes:
    """The published body: ``PAYLOAD`` (base64) when it is not empty, else fetched from ``PAYLOAD_URL``
    (retried like :func:`respond`), else ``b""``. Read once, then kept."""
    global _payload_cache
    if _payload_cache is None:
        encoded = os.environ.get("PAYLOAD", "")
        url = os.environ.get("PAYLOAD_URL", "")
        if encoded:
            _payload_cache = base64.b64decode(encoded)
        elif url:
            _, _, body = _call("GET", url, None, {}, DEFAULT_TIMEOUT, ok=(200,))
            _payload_cache = body
        else:
            _payload_cache = b""
    return _payload_cache


def payload_text() -> str:
    """The payload decoded as UTF-8."""
    return payload().decode("utf-8")


def payload_json() -> Any:
    """The payload parsed as JSON; ``None`` for an empty payload."""
    data = payload()
    return json.loads(data) if data else None


def respond(value: Any, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Post this function's answer (``POST /response/<function uid>``): ``bytes`` and ``str`` as text/plain,
    anything else as its JSON.

    Retried with backoff on connection errors, timeouts, 429 and 5xx (``Retry-After`` honoured) for at most
    ``timeout`` seconds in all; then :class:`GitfaasHTTPError`. Idempotent: gitfaas replaces the answer of a
    running function, so posting the same answer again is harmless; a ``409 ANSWER_FINAL`` on a retry counts
    as done when an earlier attempt may have been stored before the function finished (it timed out, lost
    its connection, or got a 5xx that was not gitfaas's own refusal), otherwise it raises
    :class:`AnswerFinalError` (the answer was never stored). Another 4xx raises :class:`GitfaasHTTPError` at once.
    """
    body, content_type = _encode(value)
    url = f"{gitfaas_url()}/response/{urllib.parse.quote(function_uid(), safe='')}"
    _call("POST", url, body, {"Content-Type": content_type}, timeout, ok=(200, 201), answer=True)


def publish(
    topic: str,
    body: Any = None,
    params: Optional[Params] = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Publish ``body`` on ``topic`` as a child of this function; returns the new request's UID.

    ``bytes``/``str`` go as text/plain, ``None`` as no body, anything else as its JSON; ``params`` become the
    query values. Sends ``Gitfaas-Parent: <function uid>`` (the run's tree links the child to this function),
    ``traceparent``/``tracestate`` from ``TRACEPARENT``/``TRACESTATE`` when set, ``Authorization: Bearer
    $GITFAAS_TOKEN`` when set, and a fresh ``Idempotency-Key``, so the retries (as for :func:`respond`) run
    the topic once. A refusal, or a publish some of whose manifests failed to apply, raises
    :class:`GitfaasHTTPError`.
    """
    headers: Dict[str, str] = {"Gitfaas-Parent": function_uid(), "Idempotency-Key": str(uuid.uuid4())}
    for variable, header in (("TRACEPARENT", "traceparent"), ("TRACESTATE", "tracestate")):
        if os.environ.get(variable):
            headers[header] = os.environ[variable]
    if os.environ.get("GITFAAS_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['GITFAAS_TOKEN']}"
    data: Optional[bytes] = None
    if body is not None:
        data, headers["Content-Type"] = _encode(body)
    query = ("?" + urllib.parse.urlencode({k: _param(v) for k, v in params.items()})) if params else ""
    url = f"{gitfaas_url()}/publish/{urllib.parse.quote(topic, safe='')}{query}"
    _, _, answer = _call("POST", url, data, headers, timeout, ok=(200, 201, 202))
    parsed = json.loads(answer)
    uid = parsed.get("requestUid")
    if parsed.get("error") or not isinstance(uid, str):
        failed = [a.get("message") for a in parsed.get("applies", []) if a.get("error")]
        raise GitfaasHTTPError(f"publishing on {topic} ({uid}) failed: {failed or parsed}", 202)
    return uid


def _param(value: Union[str, int, float, bool]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _encode(value: Any) -> Tuple[bytes, str]:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), "text/plain; charset=utf-8"
    if isinstance(value, str):
        return value.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(value).encode("utf-8"), "application/json"


def _retry_after(header: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _code_of(body: bytes) -> Optional[str]:
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _call(
    method: str,
    url: str,
    body: Optional[bytes],
    headers: Mapping[str, str],
    timeout: float,
    ok: Tuple[int, ...],
    answer: bool = False,
) -> Tuple[int, Mapping[str, str], bytes]:
    """One HTTP call, retried on connection errors, 429 and 5xx within ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    attempt = 0
    maybe_stored = False  # an earlier attempt may have reached gitfaas and been applied
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        wait: Optional[float] = None
        try:
            with urllib.request.urlopen(request, timeout=max(0.1, min(_ATTEMPT_TIMEOUT, remaining))) as reply:
                return reply.status, dict(reply.headers.items()), reply.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
            code = _code_of(data)
            if status in ok:
                return status, dict(error.headers.items()), data
            if answer and status == 409 and code == "ANSWER_FINAL":
                if maybe_stored:
                    return status, dict(error.headers.items()), data
                raise AnswerFinalError(f"{method} {url}: 409 {data.decode(errors='replace')}", status, code)
            retryable = status == 429 or status >= 500 or code == "IDEMPOTENCY_KEY_IN_PROGRESS"
            failure = GitfaasHTTPError(f"{method} {url}: {status} {data.decode(errors='replace')}", status, code)
            if not retryable:
                raise failure from None
            maybe_stored = maybe_stored or code is None  # not gitfaas's own refusal (a proxy's 502…)
            wait = _retry_after(error.headers.get("Retry-After"))
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout) as error:
            failure = GitfaasHTTPError(f"{method} {url}: {error}")
            maybe_stored = True
        if wait is None:
            wait = pause * (0.5 + random.random() / 2)
            pause = min(pause * 2, _LONGEST_PAUSE)
        if time.monotonic() + wait >= deadline:
            raise GitfaasHTTPError(
                f"{failure} (gave up after {attempt} attempts in {timeout:g}s)", failure.status, failure.code
            ) from None
        time.sleep(wait)
