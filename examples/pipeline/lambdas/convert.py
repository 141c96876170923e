"""Convert: turn the CSV into JSON Lines, one reading per line, and answer with what was written."""
import csv
import io
import json
import os

from gitfaas_lambda import payload_json, respond
from work import work_dir

rows = list(csv.DictReader(io.StringIO(payload_json()["csv"])))
target = os.path.join(work_dir(), "readings.jsonl")
with open(target, "w", encoding="utf-8") as out:
    for row in rows:
        out.write(json.dumps({"station": row["station"], "day": int(row["day"]), "celsius": float(row["celsius"])}) + "\n")
with open(target, encoding="utf-8") as written:
    lines = written.read().splitlines()

respond({"step": "convert", "records": len(lines), "first": json.loads(lines[0]) if lines else None})
