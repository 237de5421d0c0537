"""Property-based fuzzing of the gateway's merged OpenAPI with schemathesis (issue 10, part 2).

Every operation, anonymous and with each role's token: no 5xx, every error is
application/problem+json (CKAN's Action API keeps CKAN's own error bodies), and every response
conforms to the document: status code documented, content type documented for that status,
body valid against the documented schema (schemathesis' status_code_conformance,
content_type_conformance, response_schema_conformance).

Bounded in the suite (2 examples per operation and identity, ~2 minutes at most); the long run:
    uv run pytest tests/hardening/test_fuzz.py --fuzz-examples=200
"""

from __future__ import annotations

import time
from collections import defaultdict

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import World

pytestmark = pytest.mark.timeout(3600)

# raw-body streaming uploads (not JSON): covered by storage's own tests and test_security
SKIP = {
    ("PUT", "/api/v1/uploads/{upload_id}/parts/{part_number}"),
    ("POST", "/api/v1/files"),
}
# CKAN-compatible endpoints answer with CKAN's error documents, not problem+json
CKAN_PREFIXES = ("/api/3/action/", "/api/action/")
# every response: its status is documented, its content type is documented for that status,
# its body matches the documented schema (errors: the shared Problem schema)
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
SUITE_EXAMPLES = 2
SUITE_BUDGET_S = 110.0


def _identities(world: World) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        "no-role": world.plain["headers"],
        "editor": world.editor_a["headers"],
        "moderator": world.moderator["headers"],
        "admin": world.admin,
    }


_COUNT: dict[str, int] = {}


def _runner(op, who, headers, world, session, failures, examples):  # type: ignore[no-untyped-def]
    """A hypothesis test over one operation for one identity (checks are recorded, not raised,
    so one run reports every finding)."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def run(case) -> None:  # type: ignore[no-untyped-def]
        _COUNT["n"] = _COUNT.get("n", 0) + 1
        key = f"{op.method.upper()} {op.path}"
        try:
            resp = case.call(base_url=world.url, session=session, headers=dict(headers), timeout=30)
        except requests.RequestException as exc:
            failures["transport"].append(f"{who} {key}: {exc!r}"[:300])
            return
        status = resp.status_code
        ctype = resp.headers.get("content-type") or ""  # schemathesis: name -> [values]
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        if status >= 500:
            failures["5xx"].append(
                f"{who} {key} -> {status} {resp.text[:160]} | {case.as_curl_command()[:400]}"
            )
            return
        if status >= 400 and not op.path.startswith(CKAN_PREFIXES):
            if not ctype.startswith("application/problem+json"):
                failures["not problem+json"].append(f"{who} {key} -> {status} {ctype}")
        try:
            case.validate_response(resp, checks=CONFORMANCE)
        except BaseExceptionGroup as group:  # schemathesis' FailureGroup
            for failure in group.exceptions:
                title = getattr(failure, "title", type(failure).__name__)
                message = str(getattr(failure, "message", failure)).replace("\n", " ")
                failures[title].append(f"{who} {key} -> {status}: {message[:240]}")
        except Exception as exc:  # noqa: BLE001 - a single failure
            failures[type(exc).__name__].append(f"{who} {key} -> {status}: {str(exc)[:240]}")

    return run


def test_fuzz_whole_gateway(world: World, request: pytest.FixtureRequest) -> None:
    examples = request.config.getoption("--fuzz-examples") or SUITE_EXAMPLES
    budget = None if request.config.getoption("--fuzz-examples") else SUITE_BUDGET_S
    raw = httpx.get(f"{world.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    session = requests.Session()
    failures: dict[str, list[str]] = defaultdict(list)
    calls = 0
    started = time.monotonic()
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 100
    for who, headers in _identities(world).items():
        for op in operations:
            if (op.method.upper(), op.path) in SKIP:
                continue
            if budget is not None and time.monotonic() - started > budget:
                break

            run = _runner(op, who, headers, world, session, failures, examples)
            try:
                run()
            except Unsatisfiable:
                pass
            calls += _COUNT.pop("n", 0)
    report = "\n".join(
        f"[{kind}] {len(items)}\n  " + "\n  ".join(sorted(set(items))[:40])
        for kind, items in failures.items()
    )
    print(
        f"fuzz: {calls} requests over {len(operations)} operations x 5 identities "
        f"in {time.monotonic() - started:.0f}s"
    )
    assert calls > 200
    assert not failures, report
