"""A profile of given stacks sent to a studio through the agent protocol, as an agent would: for
the tests and benchmarks that need hosts or hours no real agent run here can produce."""

import gzip
import json
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta


def upload_stacks(
    url: str,
    token: str,
    service: str,
    host: str,
    start: datetime,
    stacks: Mapping[str, int],
    timeout: float = 30,
) -> None:
    """One 60 s profile of `stacks` (collapsed, process name first) from `host`; asserts a 200."""
    header = {"start_time": start.isoformat(), "end_time": (start + timedelta(seconds=60)).isoformat(),
              "containers": [], "metadata": {"hostname": host}}  # fmt: skip
    text = f"# {json.dumps(header)}\n" + "".join(f"0;;{stack} {count}\n" for stack, count in stacks.items())
    document = {"start_time": header["start_time"], "end_time": header["end_time"], "hostname": host,
                "profile": text, "cpu_avg": 20.0, "mem_avg": 30.0, "spawn_time": header["start_time"],
                "gpid": ""}  # fmt: skip
    request = urllib.request.Request(
        f"{url}/api/v2/profiles?service={service}", data=gzip.compress(json.dumps(document).encode()),
        headers={"GPROFILER-API-KEY": token, "GPROFILER-SERVICE-NAME": service,
                 "Content-Encoding": "gzip", "Content-Type": "application/json"},
        method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=timeout) as response:
        assert response.status == 200, response.status
