"""Collect: produce a day-by-day temperature log per station as CSV, gzip it, answer with the archive.

Its answer is what `uncompress` is published with (config.json: "onSuccess": ["uncompress"]).

Payload: {"stations": ["oslo", "lyon"], "days": 30, "seed": 7}. Deterministic for a given seed.
"""
import base64
import csv
import gzip
import os
import random

from gitfaas_lambda import payload_json, respond
from work import work_dir

request = payload_json() or {}
stations = request.get("stations", ["oslo", "lyon", "quito"])
days = int(request.get("days", 30))
rng = random.Random(request.get("seed", 1))

raw = os.path.join(work_dir(), "readings.csv")
with open(raw, "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["station", "day", "celsius"])
    for station in stations:
        base = rng.uniform(-5, 25)
        for day in range(1, days + 1):
            writer.writerow([station, day, round(base + rng.gauss(0, 3), 1)])

compressed = raw + ".gz"
with open(raw, "rb") as source, gzip.open(compressed, "wb") as target:
    target.write(source.read())
with open(compressed, "rb") as packed:
    archive = base64.b64encode(packed.read()).decode()

respond({
    "step": "collect",
    "rows": len(stations) * days,
    "gzip_bytes": os.path.getsize(compressed),
    "file": "readings.csv.gz",
    "gzip_base64": archive,
})
