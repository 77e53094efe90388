"""Schemathesis against studio's own OpenAPI document, on a real `serve`: whatever a client sends,
studio answers with a 4xx and a JSON message, never a 5xx. Bounded: a fixed number of cases per
route (Hypothesis, driven here rather than by schemathesis' pytest plugin, which pytest 9 breaks)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.clickhouse_server import free_port
from tests.integration.test_studio import Studio, _token

CASES_PER_ROUTE = 60


@pytest.fixture(scope="module")
def fuzzed_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    data = tmp_path_factory.mktemp("fuzzed") / "studio"
    studio = Studio(data, free_port(), _token(data, "--service", "checkout"), _token(data, "--all"))
    studio.start()
    yield studio
    studio.stop()


def _check(case: Any, studio: Studio) -> None:
    # uploads with the service's token, reads with the all-services one, so that both go deep
    token = studio.token if case.method == "POST" else studio.reader
    response = case.call(headers={"GPROFILER-API-KEY": token, "GPROFILER-SERVICE-NAME": "checkout"})
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/json"), response.text[:300]
        assert json.loads(response.text)["message"], response.text[:300]


def test_no_request_makes_studio_fail(fuzzed_studio: Studio) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_studio.url}/openapi.json")
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), "studio's OpenAPI document has errors"
    routes = [result.ok() for result in results if isinstance(result, Ok)]
    assert {route.path for route in routes} >= {"/api/v2/profiles", "/api/v1/logs", "/api/v1/flamegraph"}
    for route in routes:

        @given(case=route.as_strategy())
        @settings(max_examples=CASES_PER_ROUTE, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case: Any) -> None:
            _check(case, fuzzed_studio)

        check()
    log = (fuzzed_studio.data / "studio.log").read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
