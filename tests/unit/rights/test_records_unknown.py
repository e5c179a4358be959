"""A token at a field the record's provenance says was sealed, but the contract as loaded does not
seal (changed without a new version), is reported, so the export says it is incomplete."""

from __future__ import annotations

from rights.records import ContractView, unknown_sealed
from tests.conftest import contract_set


def test_a_token_the_contract_no_longer_seals_is_reported_not_passed_as_opened():
    contract = contract_set().compiled[("customer_signed_up", "1")].contract
    view = ContractView(contract)
    assert "address" not in view.sites
    record = {"address": "~gj1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "name": "Jane",
              "_privacy": {"contract": contract.ref, "applied": {"address": "encrypt", "name": "encrypt"}}}
    unopened: list = []
    unknown_sealed(record, view, unopened)
    assert unopened == [("address", "unknown_field")]  # name is the contract's: opened (or not) by open_fields
    record["_privacy"]["applied"]["address"] = "redact"
    unopened.clear()
    unknown_sealed(record, view, unopened)
    assert unopened == []


def test_a_subject_id_with_spaces_at_either_end_is_refused_by_the_rights_function():
    import pytest

    from rights.request import BadRequest, parse

    for bad in (" 123", "123 ", "\t123"):
        with pytest.raises(BadRequest) as exc:
            parse({"action": "forget", "subject_id": bad})
        assert bad.strip() not in str(exc.value)
