import pytest

from scrubber.policy import INVALID_EVENT_TYPE, MISSING_EVENT_TYPE, UNKNOWN_EVENT_TYPE, Policy, PolicyRejection

NOW = "2026-01-15T09:30:00.000Z"
REF_003 = {
    "name": "Gnoll",
    "dob": "2011-04-22",
    "gender": "M",
    "ssn_no": "807831104",
    "data_share_consent": False,
    "evnt_time": "2021-01-31T20:31:26.114917",
}


def test_reference_003_event_without_consent_matches_the_reference_output(policy):
    ev = dict(REF_003)
    assert policy.scrub(ev, NOW) is True
    assert ev == {
        "name": "Gnoll",
        "dob": "REDACTED_CONTENT",
        "gender": "M",
        "ssn_no": "REDACTED_CONTENT",
        "data_share_consent": False,
        "evnt_time": "2021-01-31T20:31:26.114917",
        "data_redacted": True,
        "redacted_at": NOW,
    }


def test_reference_003_event_with_consent_is_untouched(policy):
    ev = dict(REF_003, data_share_consent=True)
    assert policy.scrub(ev, NOW) is False
    assert ev == dict(REF_003, data_share_consent=True)


@pytest.mark.parametrize(
    "consent",
    ["true", "True", 1, 1.0, None, False, 0, [], [True], {"value": True}, "yes"],
)
def test_anything_but_json_true_is_no_consent(policy, consent):
    ev = dict(REF_003, data_share_consent=consent)
    assert policy.scrub(ev, NOW) is True
    assert ev["dob"] == ev["ssn_no"] == "REDACTED_CONTENT"


def test_absent_consent_is_no_consent(policy):
    ev = {k: v for k, v in REF_003.items() if k != "data_share_consent"}
    assert policy.scrub(ev, NOW) is True
    assert ev["ssn_no"] == "REDACTED_CONTENT"


@pytest.mark.parametrize("value", [None, 807831104, 3.5, ["807831104"], {"n": "807831104"}, True, ""])
def test_sensitive_field_is_redacted_whatever_its_type(policy, value):
    ev = dict(REF_003, ssn_no=value)
    policy.scrub(ev, NOW)
    assert ev["ssn_no"] == "REDACTED_CONTENT"


def test_absent_sensitive_fields_stay_absent(policy):
    ev = {"name": "x", "data_share_consent": False}
    policy.scrub(ev, NOW)
    assert "dob" not in ev and "ssn_no" not in ev and ev["data_redacted"] is True


def test_producer_event_types_use_their_profile(policy):
    ev = {
        "event_type": "order_placed",
        "subject_id": "s-1",
        "name": "Ann Lee",
        "email": "ann@example.com",
        "note": "call me",
        "address": {"street": "1 Main St"},
        "gender": "F",
        "data_share_consent": "true",
    }
    policy.scrub(ev, NOW)
    for f in ("name", "email", "note", "address"):
        assert ev[f] == "REDACTED_CONTENT"
    assert ev["subject_id"] == "s-1" and ev["gender"] == "F"


def test_unknown_event_type_is_rejected_not_passed_through(policy):
    with pytest.raises(PolicyRejection) as exc:
        policy.scrub({"event_type": "brand_new", "ssn": "1", "data_share_consent": True}, NOW)
    assert exc.value.reason == UNKNOWN_EVENT_TYPE


@pytest.mark.parametrize("etype", [None, 1, ["order_placed"], {"t": "order_placed"}])
def test_non_string_event_type_is_rejected(policy, etype):
    with pytest.raises(PolicyRejection) as exc:
        policy.scrub({"event_type": etype, "data_share_consent": True}, NOW)
    assert exc.value.reason == INVALID_EVENT_TYPE


def test_untyped_events_are_rejected_when_there_is_no_default_profile(config):
    raw = __import__("json").loads(config.scrub_policy.to_json())
    raw["default_profile"] = None
    p = Policy.from_dict(raw)
    with pytest.raises(PolicyRejection) as exc:
        p.scrub(dict(REF_003), NOW)
    assert exc.value.reason == MISSING_EVENT_TYPE


@pytest.mark.parametrize(
    "raw",
    [
        # the same key twice: parsers disagree on which value wins
        b'{"dob": "2011-04-22", "ssn_no": "807831104", "data_share_consent": false, "data_share_consent": true}',
        b'{"data_share_consent": true, "dob": "2011-04-22", "ssn_no": "807831104", "data_share_consent": true}',
        # the same key spelt with a unicode escape
        b'{"dob": "2011-04-22", "ssn_no": "807831104", "data_share_consent": false, "data_share_consen\\u0074": true}',
    ],
)
def test_ambiguous_consent_is_no_consent(policy, raw):
    import orjson

    ev = orjson.loads(raw)
    assert policy.scrub(ev, NOW, raw) is True
    assert ev["ssn_no"] == "REDACTED_CONTENT"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"dob": "2011-04-22", "ssn_no": "807831104", "data_share_consent": true}',
        b'{"name": "Zo\\u00eb", "dob": "2011-04-22", "data_share_consent": true}',  # escapes elsewhere
        b'{"event_type": "order_placed", "meta": {"data_share_consent": false}, "dob": "2011-04-22", "data_share_consent": true}',
        b'{"event_type": "order_placed", "note": "said \\"data_share_consent\\": true", "dob": "2011-04-22", "data_share_consent": true}',
    ],
)
def test_unambiguous_consent_is_consent(policy, raw):
    import orjson

    ev = orjson.loads(raw)
    assert policy.scrub(ev, NOW, raw) is False
    assert ev["dob"] == "2011-04-22"


def test_an_untyped_event_with_fields_beyond_the_legacy_shape_is_quarantined(policy):
    """A producer event that lost its event_type must not get the weaker legacy rules."""
    from scrubber.policy import UNDECLARED_FIELD

    ev = {"data_share_consent": False, "name": "Alice", "email": "a@b.com", "ssn": "123-45-6789", "dob": "1990"}
    with pytest.raises(PolicyRejection) as exc:
        policy.scrub(ev, NOW)
    assert exc.value.reason == UNDECLARED_FIELD


def test_sensitive_fields_match_whatever_their_case(policy):
    ev = {"event_type": "order_placed", "data_share_consent": False, "EMAIL": "a@b.com", "Ssn": "123-45-6789", "ssn": "x"}
    policy.scrub(ev, NOW)
    assert ev["EMAIL"] == ev["Ssn"] == ev["ssn"] == "REDACTED_CONTENT"


def test_consent_beyond_the_stdlib_parser_depth_is_no_consent_not_an_error(policy):
    deep = b'{"event_type": "order_placed", "x": "\\u00e9", "n": ' + b"[" * 1010 + b"]" * 1010 + b', "ssn": "1", "data_share_consent": true}'
    import orjson

    ev = orjson.loads(deep)
    assert policy.scrub(ev, NOW, deep) is True and ev["ssn"] == "REDACTED_CONTENT"
