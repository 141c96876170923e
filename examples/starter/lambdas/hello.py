"""A lambda in Python: reads the message gitfaas gave it, answers with a JSON object."""

import base64
import json
import os
import urllib.request


def main() -> None:
    message = base64.b64decode(os.environ.get("PAYLOAD", "")).decode("utf-8")
    answer = {"hello": message or "world"}
    # GITFAAS_URL is set by the local runtime; in a cluster, the Service gitfaas answers on port 5000.
    url = os.environ.get("GITFAAS_URL", "http://gitfaas:5000") + "/response/" + os.environ["FUNCTION_UID"]
    request = urllib.request.Request(
        url, data=json.dumps(answer).encode("utf-8"), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        print("answered:", response.status)


main()
