"""Exact request parameters for production, checked with botocore's Stubber."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber

from turkops.config import Settings
from turkops.domain import ConfigError
from turkops.mturk.gateway import DuplicateRequestError, HitTypeSpec, MTurkGateway, build_gateway
from turkops.mturk.pricing import fee_per_assignment, plan_cost
from turkops.mturk.qualifications import qualification_requirements
from turkops.mturk.questions import TaskImage, html_question, render_task_html


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    return boto3.client(
        "mturk",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        endpoint_url="https://mturk-requester.us-east-1.amazonaws.com",
    )


def test_hit_type_with_paper_qualifications(client) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    spec = HitTypeSpec(
        "t", "d", "k", Decimal("0.05"), 600, 259200, qualification_requirements(settings)
    )
    with Stubber(client) as stub:
        stub.add_response(
            "create_hit_type",
            {"HITTypeId": "HT1"},
            {
                "AutoApprovalDelayInSeconds": 259200,
                "AssignmentDurationInSeconds": 600,
                "Reward": "0.05",
                "Title": "t",
                "Keywords": "k",
                "Description": "d",
                "QualificationRequirements": [
                    {
                        "QualificationTypeId": "00000000000000000071",
                        "Comparator": "EqualTo",
                        "LocaleValues": [{"Country": "US"}],
                        "ActionsGuarded": "DiscoverPreviewAndAccept",
                    },
                    {
                        "QualificationTypeId": "00000000000000000040",
                        "Comparator": "GreaterThanOrEqualTo",
                        "IntegerValues": [10000],
                        "ActionsGuarded": "DiscoverPreviewAndAccept",
                    },
                    {
                        "QualificationTypeId": "000000000000000000L0",
                        "Comparator": "GreaterThanOrEqualTo",
                        "IntegerValues": [98],
                        "ActionsGuarded": "DiscoverPreviewAndAccept",
                    },
                ],
            },
        )
        assert MTurkGateway(client).create_hit_type(spec) == "HT1"


def test_create_hit_carries_token_and_html_question(client) -> None:  # type: ignore[no-untyped-def]
    question = html_question(render_task_html("dog", [TaskImage("https://i/1.jpg", "1.jpg")]))
    with Stubber(client) as stub:
        stub.add_response(
            "create_hit_with_hit_type",
            {"HIT": {"HITId": "H1", "HITStatus": "Assignable", "MaxAssignments": 3}},
            {
                "HITTypeId": "HT1",
                "MaxAssignments": 3,
                "LifetimeInSeconds": 3600,
                "Question": question,
                "RequesterAnnotation": "tok",
                "UniqueRequestToken": "tok",
            },
        )
        stub.add_client_error(
            "create_hit_with_hit_type",
            service_error_code="RequestError",
            service_message='The idempotency token "tok" has already been processed.',
            expected_params={
                "HITTypeId": "HT1",
                "MaxAssignments": 3,
                "LifetimeInSeconds": 3600,
                "Question": ANY,
                "RequesterAnnotation": "tok",
                "UniqueRequestToken": "tok",
            },
        )
        gw = MTurkGateway(client)
        assert gw.create_hit("HT1", question, 3, 3600, "tok").hit_id == "H1"
        with pytest.raises(DuplicateRequestError) as err:
            gw.create_hit("HT1", question, 3, 3600, "tok")
        assert err.value.hit_id is None


def test_production_needs_opt_in() -> None:
    with pytest.raises(ConfigError, match="TURKOPS_ALLOW_PRODUCTION"):
        build_gateway(Settings(endpoint="production", _env_file=None))  # type: ignore[call-arg]
    gw = build_gateway(
        Settings(endpoint="production", allow_production=True, _env_file=None)  # type: ignore[call-arg]
    )
    assert gw.client.meta.endpoint_url == "https://mturk-requester.us-east-1.amazonaws.com"
    sandbox = build_gateway(Settings(endpoint="sandbox", _env_file=None))  # type: ignore[call-arg]
    assert "sandbox" in sandbox.client.meta.endpoint_url


def test_fees_and_plan() -> None:
    assert fee_per_assignment(Decimal("0.05"), 3) == Decimal("0.01")  # $0.01 minimum
    assert fee_per_assignment(Decimal("1.00"), 3) == Decimal("0.20")
    assert fee_per_assignment(Decimal("1.00"), 10) == Decimal("0.40")
    plan = plan_cost(12000, 3, Decimal("0.05"), 15)
    # The paper's large study: 12,000 tasks x 3 raters at $0.05 + $0.01 fee = $2,160.
    assert plan.total == Decimal("2160.00") and plan.assignments == 36000
