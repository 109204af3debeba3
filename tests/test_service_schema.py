"""Every route against its own OpenAPI schema: Schemathesis generates requests for each operation and
every reply must match the schema, none a 5xx.

`make test` draws the same cases every run (derandomised), so a verdict never depends on chance;
`make fuzz` sets PAPERS_FUZZ_EXAMPLES (1,000 per route) and draws new cases each run, printing the
seed that reproduces a failure."""

from __future__ import annotations

import os

import hypothesis
import pytest
import schemathesis

from conftest import ScriptedModel
from rag.library import Library
from rag.service import create_app
from rag.settings import Settings

FUZZ_EXAMPLES = int(os.environ.get("PAPERS_FUZZ_EXAMPLES", "0"))
EXAMPLES = FUZZ_EXAMPLES or 25


@pytest.fixture(scope="module")
def api_schema(short_library: Settings):
    """The service's own schema, over a library of its own (the generated requests upload and delete
    papers), answering with a scripted model so that thousands of asks stay quick."""
    model = ScriptedModel(responses=["TinyFormer reaches 91% accuracy on keyword spotting [1].",
                                     '{"in_common": "Both are small.", "difference": "A or B."}'])
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(Library(short_library, model)))


def test_every_route_keeps_to_its_schema_and_never_fails_with_5xx(api_schema):
    """A request the schema allows may still be refused for what it says (a query of spaces, a paper
    not in the library, two names of one paper): the 400 or 404 it gets is checked like any reply."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:
        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not FUZZ_EXAMPLES,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def conforms(case):
            case.call_and_validate(base_url="http://127.0.0.1:8000",
                                   excluded_checks=[schemathesis.checks.positive_data_acceptance])

        conforms()
