"""The detector corpus command (``python -m tools.detector_corpus``), in a smaller version, so that
CI guards the detectors' recall and false-positive rate."""

import re

from privacy.detectors import Scanner
from tools import detector_corpus as dc


def test_a_small_corpus_is_found_whole_with_few_false_positives():
    report = dc.run(n=500, seed=7)
    assert report.misses() == []
    assert report.fp_rate() <= dc.FP_THRESHOLD
    plain = {"phone", "ssn", "card", "iban", "email", "ip"}
    assert set(report.recall) == plain | {d + dc.DISGUISED for d in plain - {"ip"}}
    assert all(sum(t.n for t in fams.values()) >= 500 for fams in report.recall.values())
    assert sum(t.n for f, t in report.fp.items() if f not in report.informational) == 500 + 250  # and Unicode texts
    # the formats the review found leaking are in it
    phone = report.recall["phone"]
    assert {"en_US +CC dashes + extension", "en_US 00CC dashes + extension", "en_US (area) dashes + extension"} <= set(phone)
    assert {"international +CC spaces", "international 00CC", "international +CC dashes", "international +CC (0)"} <= set(phone)
    assert {f.split()[0] for f in phone} >= {"en_US", "en_GB", "de_DE", "fr_FR", "nl_NL"}
    assert "labelled, no separators" in report.recall["ssn"] and "spaced" in report.recall["ssn"]
    # and the hostile tester's: look-alike separators and digits, labels, case, obfuscated addresses
    assert {"Unicode spaces", "Unicode hyphens and dashes", "full-width", "Arabic-Indic digits",
            "zero-width inside"} <= set(report.recall["phone in disguise"])
    assert {"labelled, dots", "labelled, slashes", "glued to a word", "zero-width inside", "full-width digits",
            "Arabic-Indic digits"} <= set(report.recall["ssn in disguise"])
    assert {"dots", "NBSP or thin spaces", "tabs", "newlines"} <= set(report.recall["card in disguise"])
    assert {"lower case, compact", "lower case, spaced", "dashes", "mixed case"} <= set(report.recall["iban in disguise"])
    assert {"(at) and (dot)", "[at] and [dot], spaced", "the word at, (dot)", "full-width"} <= set(report.recall["email in disguise"])
    assert {"prices with NBSP or thin spaces", "ranges with Unicode dashes", "tab-separated tables", "lines of a note"} <= set(report.fp)


def test_the_command_fails_when_a_detector_misses(monkeypatch, capsys):
    monkeypatch.setattr(dc, "Scanner", lambda: Scanner(["email", "ssn", "card", "iban", "ip"]))  # no phone detector
    assert dc.main(["--n", "100"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] recall 100% on every family (below: phone/" in out


class _ASCIIOnly:
    """The scanner as it read text before it read a view of it: ASCII look-alikes only."""

    def __init__(self):
        self.scanner = Scanner()

    def mask(self, text):
        return self.scanner.mask(text) if text.isascii() and "\t" not in text and "\n" not in text else (text, ())


def test_the_command_fails_when_values_in_disguise_pass(monkeypatch, capsys):
    monkeypatch.setattr(dc, "Scanner", _ASCIIOnly)
    assert dc.main(["--n", "100"]) == 1
    out = capsys.readouterr().out
    assert "phone in disguise/Unicode spaces" in out and "card in disguise/newlines" in out and "email in disguise/full-width" in out


class _MaskEveryNumber:
    def mask(self, text):
        masked = re.sub(r"[0-9]+", "[PHONE]", text)
        return masked, ("phone",) if masked != text else ()


def test_the_command_fails_on_false_positives(monkeypatch, capsys):
    monkeypatch.setattr(dc, "Scanner", _MaskEveryNumber)
    assert dc.main(["--n", "100"]) == 1
    assert "[FAIL] false positives" in capsys.readouterr().out


def test_the_command_passes_and_prints_counts_not_values(capsys):
    assert dc.main(["--n", "200", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "[PASS] recall 100% on every family" in out and "[PASS] false positives" in out
    assert "@" not in out and not re.search(r"[0-9]{5}", out.replace(",", ""))  # no generated value
