"""Injected faults, and how botocore's own retries meet them."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from tests.marketplace.helpers import admin, make_client, new_hit, new_hit_type, wait_for
from turkops.marketplace import FaultConfig, RunningMarketplace


def test_throttling_is_absorbed_by_botocore_retries(start: Any) -> None:
    m: RunningMarketplace = start(faults=FaultConfig(throttle_every_n=2))
    client = make_client(m.url)
    # Call 2 is throttled; botocore backs off (up to 1 s: its throttling base) and retries.
    for _ in range(2):
        assert client.get_account_balance()["AvailableBalance"] == "10000.00"
    stats = admin(m.url, "stats")
    assert stats["faults_injected"]["throttle"] == 1
    assert stats["calls"]["GetAccountBalance"] == 3


def test_throttling_error_shape_without_retries(start: Any) -> None:
    m: RunningMarketplace = start(faults=FaultConfig(throttle_burst=1))
    client = make_client(m.url, retries={"mode": "standard", "max_attempts": 0})
    with pytest.raises(client.exceptions.ClientError) as exc:
        client.get_account_balance()
    error = exc.value.response["Error"]
    assert error["Code"] == "ThrottlingException"
    assert error["Message"] == "Rate exceeded"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    client.get_account_balance()  # the burst was one call long


def test_service_fault_is_retried(start: Any) -> None:
    m: RunningMarketplace = start(faults=FaultConfig(service_fault_every_n=1))
    single = make_client(m.url, retries={"mode": "standard", "max_attempts": 0})
    with pytest.raises(single.exceptions.ServiceFault) as exc:
        single.get_account_balance()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    admin(m.url, "faults", {"service_fault_every_n": 2})
    client = make_client(m.url)
    for _ in range(4):
        client.get_account_balance()
    assert admin(m.url, "stats")["faults_injected"]["service_fault"] >= 3


def test_dropped_connection(start: Any) -> None:
    m: RunningMarketplace = start(faults=FaultConfig(drop_every_n=1, drop_mode="before"))
    single = make_client(m.url, retries={"mode": "standard", "max_attempts": 0})
    with pytest.raises(ConnectionClosedError):
        single.get_account_balance()
    admin(m.url, "faults", {"drop_every_n": 2})
    client = make_client(m.url)
    for _ in range(3):
        assert client.get_account_balance()["AvailableBalance"] == "10000.00"


def test_dropped_create_is_recovered_by_the_unique_request_token(start: Any) -> None:
    # The 2nd CreateHITWithHITType runs, but its answer is lost; botocore retries the same
    # request, and the token turns the retry into HitAlreadyExists naming the HIT.
    m: RunningMarketplace = start(
        faults=FaultConfig(drop_every_n=2, operations=frozenset({"CreateHITWithHITType"}))
    )
    m.pause_workers()
    client = make_client(m.url)
    type_id = new_hit_type(client)
    new_hit(client, type_id, UniqueRequestToken="t-1")
    with pytest.raises(client.exceptions.RequestError) as exc:
        new_hit(client, type_id, UniqueRequestToken="t-2")
    message = exc.value.response["Error"]["Message"]
    assert exc.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.HitAlreadyExists"
    hit_id = message.split("HIT ID: ")[1].split()[0]
    assert client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Assignable"
    assert len(client.list_hits()["HITs"]) == 2
    assert admin(m.url, "stats")["calls"]["CreateHITWithHITType"] == 3


def test_delay_and_timeouts(start: Any) -> None:
    m: RunningMarketplace = start(faults=FaultConfig(delay_seconds=0.3))
    client = make_client(m.url)
    began = time.monotonic()
    client.get_account_balance()
    assert time.monotonic() - began >= 0.3
    impatient = make_client(
        m.url, read_timeout=0.1, retries={"mode": "standard", "max_attempts": 0}
    )
    with pytest.raises(ReadTimeoutError):
        impatient.get_account_balance()
    # Every 2nd call is slow: a retrying client times out once and then succeeds.
    admin(m.url, "faults", {"delay_seconds": 0.5, "delay_every_n": 2})
    retrying = make_client(m.url, read_timeout=0.2, retries={"mode": "standard", "max_attempts": 3})
    for _ in range(2):
        assert retrying.get_account_balance()["AvailableBalance"] == "10000.00"


def test_faults_at_runtime_and_reset(market: RunningMarketplace) -> None:
    current = admin(market.url, "faults")
    assert current["throttle_every_n"] == 0 and current["operations"] == []
    changed = admin(market.url, "faults", {"throttle_burst": 2, "operations": ["GetHIT"]})
    assert changed["throttle_burst"] == 2 and changed["operations"] == ["GetHIT"]
    client = make_client(market.url)
    client.get_account_balance()  # not a faulted operation
    assert admin(market.url, "stats")["faults_injected"] == {}
    cleared = admin(market.url, "faults", {"reset": True})
    assert cleared == FaultConfig().to_json()
    with pytest.raises(Exception, match="400"):
        admin(market.url, "faults", {"no_such_knob": 1})


def test_malformed_answers_knob(start: Any) -> None:
    m: RunningMarketplace = start(faults=FaultConfig(malformed_every_n=1))
    client = make_client(m.url)
    type_id = new_hit_type(client)
    hit_ids = [new_hit(client, type_id, max_assignments=5)["HITId"] for _ in range(2)]
    wait_for(lambda: admin(m.url, "stats")["assignments"].get("Submitted", 0) == 10)
    answers = [
        a["Answer"]
        for h in hit_ids
        for a in client.list_assignments_for_hit(HITId=h)["Assignments"]
    ]
    kinds = admin(m.url, "stats")["faults_injected"]
    assert {k for k in kinds if k.startswith("malformed_")} == {
        "malformed_missing_field",
        "malformed_extra_field",
        "malformed_bad_value",
        "malformed_huge",
        "malformed_not_xml",
    }
    parsed = 0
    for answer in answers:
        try:
            ET.fromstring(answer)
            parsed += 1
        except ET.ParseError:
            continue
    assert parsed == 8  # the two not_xml answers do not parse
    assert max(len(a) for a in answers) > 2_000_000
