"""The little a lambda needs to talk to gitfaas: read its payload, answer, publish the next topic.

Standard library only, so any python3 runs it. Works against the original gitfaas too.
"""
import base64
import json
import os
import urllib.parse
import urllib.request

GITFAAS_URL = os.environ.get("GITFAAS_URL", "http://gitfaas:5000").rstrip("/")


def payload() -> bytes:
    """The body published on the topic: from PAYLOAD (base64), or fetched from PAYLOAD_URL when large."""
    encoded = os.environ.get("PAYLOAD")
    if encoded:
        return base64.b64decode(encoded)
    url = os.environ.get("PAYLOAD_URL")
    if url:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.read()
    return b""


def payload_json():
    data = payload()
    return json.loads(data) if data else {}


def _post(path: str, body: bytes, content_type: str, headers=None):
    request = urllib.request.Request(
        f"{GITFAAS_URL}{path}", data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


def respond(result) -> None:
    """Post this function's answer; the caller reads it with GET /response/<request uid>."""
    if isinstance(result, (dict, list)):
        _post(f"/response/{os.environ['FUNCTION_UID']}", json.dumps(result).encode(), "application/json")
    else:
        _post(f"/response/{os.environ['FUNCTION_UID']}", str(result).encode(), "text/plain")


def publish(topic: str, body, params=None) -> str:
    """Publish on a topic by hand, as a child of this function (so `gitfaas trace` shows it in the run);
    returns its request UID. A step that always follows is better declared in config.json (onSuccess)."""
    query = ("?" + urllib.parse.urlencode(params)) if params else ""
    # The original gitfaas ignores the header.
    parent = {"Gitfaas-Parent": os.environ["FUNCTION_UID"]} if os.environ.get("FUNCTION_UID") else {}
    if isinstance(body, (dict, list)):
        answer = _post(f"/publish/{topic}{query}", json.dumps(body).encode(), "application/json", parent)
    else:
        data = body if isinstance(body, bytes) else str(body).encode()
        answer = _post(f"/publish/{topic}{query}", data, "text/plain", parent)
    if answer.get("error"):
        raise RuntimeError(f"publishing on {topic} failed: {answer}")
    return answer["requestUid"]


def work_dir() -> str:
    """The scratch volume: fresh for every run, gone after it."""
    path = os.environ.get("WORK_DIR", "/tmp")
    os.makedirs(path, exist_ok=True)
    return path

