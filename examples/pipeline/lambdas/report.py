"""Report: the join of `convert`, published once both of its lambdas have finished, with their answers.

Payload: [{"index", "path", "status", "reason", "answer"}] in the order convert's configs list them.
"""
from gitfaas_lambda import payload_json, respond

answers = {entry["answer"]["step"]: entry["answer"] for entry in payload_json() if entry["status"] == "succeeded"}
failed = [entry["path"] for entry in payload_json() if entry["status"] != "succeeded"]
convert = answers.get("convert", {})
respond({
    "step": "report",
    "records": convert.get("records"),
    "stations": answers.get("stats", {}).get("stations"),
    "failed": failed,
})
