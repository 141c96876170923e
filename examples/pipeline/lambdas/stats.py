"""Stats: the second lambda on the convert topic: per-station minimum, maximum and mean."""
import csv
import io
import os

from gitfaas_lambda import payload_json, respond
from work import work_dir

readings = {}
for row in csv.DictReader(io.StringIO(payload_json()["csv"])):
    readings.setdefault(row["station"], []).append(float(row["celsius"]))

report = {
    station: {"min": min(values), "max": max(values), "mean": round(sum(values) / len(values), 2), "days": len(values)}
    for station, values in sorted(readings.items())
}
with open(os.path.join(work_dir(), "stats.txt"), "w", encoding="utf-8") as out:
    out.write(repr(report))
respond({"step": "stats", "stations": report})
