import json

import sluice

RECORD_TYPE = (sluice.TEXT, sluice.INT64)

url = None


def init(params):
    global url
    url = params.get("url")
    if url is None:
        raise sluice.OperatorError("`url` is required: where to POST the records")


def write(info, records):
    """POSTs the records, one {"key": …, "value": …} line each, to `url` with
    the batch time and partition in the query, so that the receiver can drop
    a partition it already has (delivery is at least once)."""
    body = "".join(
        json.dumps({"key": key, "value": value}, separators=(",", ":"), ensure_ascii=False) + "\n"
        for key, value in records
    )
    target = f"{url}?batch={info.batch_time_ms}&partition={info.partition}"
    response = sluice.post(target, "application/x-ndjson", body)
    if not 200 <= response.status < 300:
        raise sluice.OperatorError(f"{target} answered {response.status}")
