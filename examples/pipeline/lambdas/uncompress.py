"""Uncompress: unpack the gzip archive collect answered with; its answer (the CSV text) goes to `convert`."""
import base64
import gzip
import os

from gitfaas_lambda import payload_json, respond
from work import work_dir

request = payload_json()
archive = os.path.join(work_dir(), request["file"])
with open(archive, "wb") as out:
    out.write(base64.b64decode(request["gzip_base64"]))
target = archive[: -len(".gz")]
with gzip.open(archive, "rb") as source, open(target, "wb") as out:
    out.write(source.read())
with open(target, encoding="utf-8") as text:
    csv_text = text.read()

respond({"step": "uncompress", "csv_bytes": len(csv_text.encode()), "csv": csv_text})
