"""Contract documents: what loads, and what fails with a message naming the file and the key."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from privacy.contract import ContractError, bundle_json, load_bundle, parse_contract
from privacy.files import load_contract_dir, load_contract_file

ROOT = Path(__file__).resolve().parents[3]

GOOD = {
    "contract": "t",
    "version": 1,
    "subject": "uid",
    "consent": {"model": "purposes", "field": "consent", "levels": "granular"},
    "purposes": ["analytics", "marketing"],
    "fields": {
        "uid": {"type": "string", "required": True, "pii": {"purposes": ["analytics"], "action": "pseudonymise", "always": "pseudonymise"}},
        "consent": {"type": "array"},
        "ssn": {"type": "string", "pii": {"purposes": ["marketing"], "action": "mask", "mask": "ssn"}},
    },
}


def test_repository_contracts_load_and_round_trip_through_the_bundle():
    contracts = load_contract_dir(ROOT / "contracts")
    refs = {c.ref for c in contracts}
    assert {"legacy_consent/1", "customer_signed_up/1", "order_placed/1", "health_form_submitted/1", "tax_form_submitted/1"} <= refs
    assert load_bundle(bundle_json(contracts)) == contracts


def _bad(path: str, value, message: str):
    doc = copy.deepcopy(GOOD)
    cur = doc
    keys = path.split("/")
    for k in keys[:-1]:
        cur = cur[k]
    if value is KeyError:
        del cur[keys[-1]]
    else:
        cur[keys[-1]] = value
    with pytest.raises(ContractError) as exc:
        parse_contract(doc, "contracts/t/1.yaml")
    assert str(exc.value).startswith("contracts/t/1.yaml: ")
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("fields/ssn/pii/action", "hash",
         "fields.ssn.pii.action: must be one of redact, mask, pseudonymise, generalise, drop, encrypt, got 'hash'"),
        ("fields/ssn/pii/mask", KeyError, "a mask action needs exactly one of 'mask'"),
        ("fields/ssn/pii/purposes", ["fraud"], "purpose 'fraud' is not declared"),
        ("fields/ssn/type", "text", "fields.ssn.type: must be one of"),
        ("fields/ssn/pattern", "([", "fields.ssn.pattern: RE2 cannot compile it"),
        ("fields/uid/required", KeyError, "subject: the subject field 'uid' must be required"),
        ("subject", "nobody", "subject: names no declared scalar field"),
        ("consent/field", "nope", "consent.field: names no declared field"),
        ("consent/model", "vibes", "consent.model: must be one of flag, purposes"),
        ("version", "one", "version: must be a version like 1 or 1.2.0"),
        ("contract", "Bad-Name", "contract: must be lower_snake_case"),
        ("fields/address.street", {"type": "string"}, "its parent 'address' must be declared as an object"),
        ("fields/items[*].x", {"type": "string"}, "its parent 'items' must be declared as an array"),
        ("fields/ssn/pii/generalise", "year", "'generalise' only applies to the generalise action"),
        ("fields/ssn/colour", "red", "fields.ssn: unknown key(s): colour"),
        ("extra", 1, "unknown key(s): extra"),
        ("scan", {"mode": "mask"}, "scan.mode: is on, but no field is marked scan: true"),
        ("scan", {"mode": "off", "detectors": ["dna"]}, "scan.detectors: unknown detector 'dna'"),
        ("fields/n", {"type": "integer", "pii": {"purposes": ["analytics"], "action": "generalise", "generalise": "prefix"}},
         "prefix does not apply to a field of type integer"),
        ("fields/n", {"type": "string", "minimum": 1}, "a range does not apply to a field of type string"),
        ("fields/uid/pii/always", "drop", "drop cannot apply with consent"),
        ("fields/ssn/pii/regex", r"^(\d{3})$", "a mask action needs exactly one of"),
    ],
)
def test_invalid_contracts_name_the_file_and_the_key(path, value, message):
    _bad(path, value, message)


def test_file_errors_name_the_file(tmp_path):
    d = tmp_path / "contracts" / "t"
    d.mkdir(parents=True)
    (d / "1.yaml").write_text("contract: t\nversion: 1\nfields: [\n")
    with pytest.raises(ContractError, match=r"^contracts/t/1.yaml: not valid YAML at line \d+"):
        load_contract_file(d / "1.yaml", tmp_path / "contracts")
    (d / "1.yaml").write_text(yaml.safe_dump({**GOOD, "contract": "other"}))
    with pytest.raises(ContractError, match="declares other/1 but lives at t/1.yaml"):
        load_contract_file(d / "1.yaml", tmp_path / "contracts")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"c": {"type": "any", "scan": True}}, "only free-text fields (type: string) can be scanned"),
        ({"items": {"type": "any"}, "items[*].x": {"type": "string"}}, "its parent 'items' must be declared as an array"),
        ({"o": {"type": "any"}, "o.x": {"type": "string"}}, "its parent 'o' must be declared as an object"),
        ({"n": {"type": "number", "minimum": float("inf")}}, "must be a finite number"),
        ({"n": {"type": "number", "maximum": float("nan")}}, "must be a finite number"),
        ({"n": {"type": "string", "max_length": "(print('x') or 9)"}}, "must be an integer from 1 to 1,048,576"),
        ({"email\n": {"type": "string"}}, "is not a field path"),
        # absurd bounds: refused naming the key, never left to the fast path's compiler
        ({"n": {"type": "string", "max_length": 99999999999999999999}}, "fields.n.max_length: must be an integer from 1 to 1,048,576"),
        ({"n": {"type": "array", "max_length": 1_048_577}}, "fields.n.max_length: must be an integer from 1 to 1,048,576"),
        ({"n": {"type": "date", "max_length": 0}}, "fields.n.max_length: must be an integer from 1 to 1,048,576"),
        ({"n": {"type": "integer", "maximum": 2**63}}, "fields.n.maximum: must be from -9,223,372,036,854,775,808"),
        ({"n": {"type": "number", "minimum": -1e300}}, "fields.n.minimum: must be from -9,223,372,036,854,775,808"),
        ({"n": {"type": "integer", "maximum": 9.3e18}}, "fields.n.maximum: must be from"),
    ],
)
def test_contracts_that_would_not_run_are_refused(fields, message):
    doc = copy.deepcopy(GOOD)
    doc["fields"].update(fields)
    with pytest.raises(ContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_contract(doc, "contracts/t/1.yaml")


def test_a_tampered_bundle_is_validated_again_at_load():
    import json as _json

    good = bundle_json(load_contract_dir(ROOT / "contracts"))
    doc = _json.loads(good)
    doc["contracts"][0]["document"]["fields"]["event_id"]["max_length"] = "(print('INJECTED') or 999)"
    with pytest.raises(ContractError, match="max_length: must be an integer from 1 to 1,048,576"):
        load_bundle(_json.dumps(doc))


# --- generate: hints (the producer's vocabulary), checked with the contract ------------------------

GEN = {
    "contract": "g",
    "version": 1,
    "subject": "uid",
    "consent": {"model": "flag", "field": "ok"},
    "purposes": ["analytics"],
    "fields": {
        "uid": {"type": "string", "required": True, "generate": {"subject": "id"}},
        "ok": {"type": "any"},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "items": {"type": "array", "generate": {"count": [1, 3]}},
        "items[*].qty": {"type": "integer", "generate": {"between": [1, 4]}},
        "items[*].price": {"type": "number", "minimum": 0, "maximum": 9},
        "total": {"type": "number", "generate": {"sum": ["items[*].qty", "items[*].price"]}},
        "note": {"type": "string", "generate": {"text": "note", "present": 0.5}},
    },
}


def test_generator_hints_parse():
    c = parse_contract(copy.deepcopy(GEN), "contracts/g/1.yaml")
    g = {f.path: f.generate for f in c.fields}
    assert c.producible and g["kind"] is None and g["note"].kind == "text" and g["note"].present == 0.5
    assert g["total"].arg == ("items[*].qty", "items[*].price") and g["items[*].qty"].arg == (1, 4)
    assert not parse_contract(copy.deepcopy(GOOD), "contracts/t/1.yaml").producible


@pytest.mark.parametrize(
    "field, spec, message",
    [
        ("uid", {"subject": "shoe_size"}, "fields.uid.generate.subject: must be one of id, name"),
        ("uid", "uuid4", "fields.uid.generate: must name exactly one generator of uuid, clock"),
        ("uid", {"uuid": None, "clock": None}, "must name exactly one generator"),
        ("uid", {"between": [1, 2]}, "fields.uid.generate.between: does not generate a field of type string"),
        ("uid", {"subject": "id", "present": 0.5}, "fields.uid.generate.present: a required field is always present"),
        ("note", {"text": "poem"}, "fields.note.generate.text: must be one of note, gift"),
        ("note", {"text": "note", "present": 2}, "fields.note.generate.present: must be a probability from 0 to 1"),
        ("items[*].qty", {"between": [4, 1]}, "must be [low, high] with low <= high"),
        ("items[*].qty", {"between": [1.5, 4]}, "bounds of an integer field must be whole numbers"),
        ("items", {"count": [1, 2.5]}, "fields.items.generate.count: must be [low, high] counts"),
        ("total", {"sum": ["items[*].qty", "kind"]}, "'kind' names no declared number directly in an array's items"),
        ("total", {"sum": ["items[*].qty"]}, "fields.total.generate.sum: must be a list of two items"),
        ("ok", {"present": 0.5}, "fields.ok.generate: the consent field is generated from each subject's consent"),
        ("note", KeyError, "fields.note.generate: is missing: other fields say how the producer generates them"),
        ("items[*].price", {"present": 0.5}, None),  # derivable, sometimes absent: fine
    ],
)
def test_bad_generator_hints_fail_naming_the_field(field, spec, message):
    doc = copy.deepcopy(GEN)
    if spec is KeyError:
        del doc["fields"][field]["generate"]
    else:
        doc["fields"][field]["generate"] = spec
    if message is None:
        parse_contract(doc, "contracts/g/1.yaml")
        return
    with pytest.raises(ContractError) as exc:
        parse_contract(doc, "contracts/g/1.yaml")
    assert str(exc.value).startswith("contracts/g/1.yaml: ") and message in str(exc.value), str(exc.value)


def test_an_unbounded_number_needs_a_hint_in_a_producible_contract():
    doc = copy.deepcopy(GEN)
    del doc["fields"]["items[*].price"]["maximum"]
    with pytest.raises(ContractError, match=r"fields\.items\[\*\]\.price\.generate: is missing"):
        parse_contract(doc, "contracts/g/1.yaml")


def test_a_repeated_key_at_any_level_fails_naming_the_file_the_key_and_both_lines(tmp_path):
    """PyYAML keeps the last value of a repeated key: appending a second ``ssn:`` silently removed
    the SSN's personal-data rule, and the twin delivered raw SSNs."""
    import shutil

    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    f = tmp_path / "contracts" / "order_placed" / "1.yaml"
    text = f.read_text()
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("  ssn:"))
    f.write_text(text + "  ssn: {type: string, generate: {subject: ssn}}\n")
    last = len(f.read_text().splitlines())
    with pytest.raises(ContractError) as exc:
        load_contract_dir(tmp_path / "contracts")
    assert str(exc.value) == (f"contracts/order_placed/1.yaml: fields.ssn: the key 'ssn' appears twice, at lines {first} "
                              f"and {last} (YAML would silently keep only the last)")


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: {x: 1, y: 2, x: 3}\n", "b.x: the key 'x' appears twice, at lines 2 and 2"),
    ("a:\n  - {p: 1}\n  - {p: 1, q: 2}\n  - q: 1\n    q: 2\n", "a[2].q: the key 'q' appears twice, at lines 4 and 5"),
    ("a: 1\nb: {x: 1}\nb: 2\n", "b: the key 'b' appears twice, at lines 2 and 3"),
    ("fields:\n  on: {type: string}\n", "fields: the key 'on' at line 2 is read as bool, not a name; quote it"),
    ("fields:\n  null: {type: string}\n", "fields: the key 'null' at line 2 is read as NoneType, not a name; quote it"),
    ("a: &x [1]\nb: *x\n", "a: anchors and aliases are not supported, at line 1"),
    ("base: &b {pii: {action: redact}}\nssn:\n  <<: *b\n  pii: {action: drop}\n", "ssn: merge keys (<<) are not supported, at line 3"),
])
def test_repeated_and_merged_keys_are_refused(tmp_path, text, message):
    d = tmp_path / "contracts" / "t"
    d.mkdir(parents=True)
    (d / "1.yaml").write_text(text)
    with pytest.raises(ContractError, match=r"^contracts/t/1.yaml: " + re.escape(message)):
        load_contract_file(d / "1.yaml", tmp_path / "contracts")


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """Eight levels of ten aliases each expand to 10**8 nodes: refused before anything expands."""
    import time

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    d = tmp_path / "contracts" / "t"
    d.mkdir(parents=True)
    (d / "1.yaml").write_text("\n".join(lines) + "\n")
    t = time.perf_counter()
    with pytest.raises(ContractError, match="anchors and aliases are not supported"):
        load_contract_file(d / "1.yaml", tmp_path / "contracts")
    assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("fields, message", [
    ({"_privacy": {"type": "any"}}, "fields._privacy: is a name the output reserves"),
    ({"data_redacted": {"type": "boolean"}}, "fields.data_redacted: is a name the output reserves"),
    ({"redacted_at": {"type": "string"}}, "fields.redacted_at: is a name the output reserves"),
    ({"Data_Redacted": {"type": "boolean"}}, "fields.Data_Redacted: is a name the output reserves"),
    ({".".join(["o"] * 33): {"type": "string"}}, "is nested deeper than 32 levels"),
    ({"age": {"type": "integer", "pii": {"purposes": ["analytics"], "action": "generalise", "generalise": "age_band",
                                          "band": 1}}}, "fields.age.pii.band: must be an integer from 2 to 100, got 1"),
])
def test_fields_that_would_pass_for_the_output_or_keep_values_exact_are_refused(fields, message):
    doc = copy.deepcopy(GOOD)
    doc["fields"].update(fields)
    with pytest.raises(ContractError, match=re.escape(message)):
        parse_contract(doc, "contracts/t/1.yaml")


@pytest.mark.parametrize("key", ["_privacy", "data_redacted", "redacted_at", "Data_Redacted"])
def test_under_keep_a_record_carrying_its_own_provenance_or_redaction_marker_is_refused(key):
    from privacy.common import Rejection
    from privacy.engine import ContractSet

    doc = copy.deepcopy(GOOD) | {"undeclared_fields": "keep", "engine": "reference"}
    doc["fields"]["uid"] = {"type": "string", "required": True}
    cs = ContractSet([parse_contract(doc, "t.yaml")], default_contract="t/1")
    cs.apply({"uid": "u", "consent": ["analytics"], "note": 1}, None, "now")  # other undeclared keys are kept
    with pytest.raises(Rejection, match="undeclared_field"):
        cs.apply({"uid": "u", "consent": ["analytics"], key: True}, None, "now")


@pytest.mark.parametrize("bounds", [{"max_length": 1_048_576}, {"minimum": -(2**63), "maximum": 2**63 - 1}])
def test_the_widest_bounds_allowed_compile_on_the_fast_path(bounds):
    """The limits refused above are the fast path's own: anything within them compiles (no
    ``engine: reference`` workaround needed)."""
    from privacy.engine import CompiledContract
    from privacy.fast import FastPlan

    doc = copy.deepcopy(GOOD)
    doc["fields"]["n"] = {"type": "string" if "max_length" in bounds else "integer", **bounds}
    FastPlan(CompiledContract(parse_contract(doc, "contracts/t/1.yaml"), "R"))


@pytest.mark.parametrize("pii, ok", [
    (None, False),                                                  # the raw id in clear, always
    ({"action": "pseudonymise"}, False),                            # kept in clear with consent
    ({"action": "mask", "mask": "last4", "always": "pseudonymise"}, False),  # part of the id without consent
    ({"action": "redact"}, False),
    ({"action": "pseudonymise", "always": "pseudonymise"}, True),
    ({"action": "redact", "always": "pseudonymise"}, True),
    ({"action": "drop", "always": "pseudonymise"}, True),
])
def test_a_contract_that_encrypts_never_keeps_its_subject_id_in_clear(pii, ok):
    """A hostile user's contract kept the subject id in clear while sealing the rest: the ids
    landed in the lake, and export and forget by them found nothing."""
    doc = copy.deepcopy(GOOD)
    uid = {"type": "string", "required": True}
    if pii is not None:
        uid["pii"] = {"purposes": ["analytics"], **pii}
    doc["fields"]["uid"] = uid
    doc["fields"]["note"] = {"type": "string", "pii": {"purposes": ["analytics"], "action": "redact", "always": "encrypt"}}
    if ok:
        parse_contract(doc, "c.yaml")
    else:
        with pytest.raises(ContractError, match=r"fields\.uid\.pii: a contract that encrypts must pseudonymise"):
            parse_contract(doc, "c.yaml")
    doc["fields"]["note"]["pii"].pop("always")  # a contract that encrypts nothing: the id is the author's call
    parse_contract(doc, "c.yaml")
