"""The hash-chained agreement record and ``flexcosim verify``: an edit of one line is found."""

import hashlib
import json

import pytest

from flexcosim.agents.sharing.messages import (
    Agreement,
    Approval,
    CapacityOffer,
    CapacityRequest,
    Settlement,
    Wakeup,
)
from flexcosim.agents.sharing.record import GENESIS, AgreementRecord, verify_record
from flexcosim.cosim.cli import main

AGREEMENT = Agreement(agreement_id="b-0-1", period_start_s=0, period_s=900, provider="a",
                      consumer="b", amount_kw=45.0, compensation=0.7, service_fee=0.1)
MESSAGES = [
    CapacityRequest(sender="b", receiver="a", time_s=1, request_id="b-0-1", period_start_s=0,
                    amount_kw=45.0),
    CapacityOffer(sender="a", receiver="b", time_s=1, request_id="b-0-1", period_start_s=0,
                  amount_kw=45.0, loss=0.7),
    Wakeup(sender="b", receiver="b", time_s=0, at_s=300, period_start_s=0, purpose="deadline"),
    Approval(sender="coordinator", receiver="b", time_s=1, agreement=AGREEMENT),
    Settlement(sender="coordinator", receiver="b", time_s=1, agreement_id="b-0-1", payer="b",
               payee="a", amount=0.7, purpose="compensation"),
]


@pytest.fixture()
def record(tmp_path):
    rec = AgreementRecord(tmp_path / "run" / "agreements.jsonl")
    written = [rec.append(m) for m in MESSAGES]
    assert written == [True, True, False, True, True]  # timers are not recorded
    return rec.path


def lines(path):
    return path.read_text().splitlines()


def test_entries_chain_by_sha256(record):
    entries = [json.loads(line) for line in lines(record)]
    assert [e["type"] for e in entries] == ["CapacityRequest", "CapacityOffer", "Approval",
                                            "Settlement"]
    assert entries[0]["prev_sha256"] == GENESIS
    for before, after in zip(entries, entries[1:]):
        assert after["prev_sha256"] == before["sha256"]
    body = {k: v for k, v in entries[2].items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(text.encode()).hexdigest() == entries[2]["sha256"]
    assert entries[2]["message"]["agreement"]["amount_kw"] == 45.0
    check = verify_record(record)
    assert check.ok and check.entries == 4 and check.head_sha256 == entries[-1]["sha256"]


def test_an_edited_line_is_the_first_bad_entry(record):
    text = lines(record)
    text[2] = text[2].replace('"amount_kw": 45.0', '"amount_kw": 90.0')
    record.write_text("\n".join(text) + "\n")
    check = verify_record(record)
    assert (check.ok, check.first_bad) == (False, 2)
    assert check.reason == ("entry 2 (line 3): content does not match its sha256 "
                            "(the entry was changed)")


def test_an_edit_with_a_recomputed_hash_is_found_by_the_next_link(record):
    entries = [json.loads(line) for line in lines(record)]
    entries[1]["message"]["loss"] = 0.0
    body = {k: v for k, v in entries[1].items() if k != "sha256"}
    entries[1]["sha256"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    record.write_text("".join(json.dumps(e) + "\n" for e in entries))
    check = verify_record(record)
    assert check.first_bad == 1 and "entry 2 no longer links to it" in check.reason


def test_a_removed_line_is_found(record):
    text = lines(record)
    record.write_text("\n".join(text[:1] + text[2:]) + "\n")
    check = verify_record(record)
    assert check.first_bad == 1 and "removed or inserted" in check.reason


def test_the_record_continues_an_intact_chain_and_refuses_a_tampered_one(record):
    rec = AgreementRecord(record)
    rec.append(MESSAGES[0])
    assert verify_record(record).entries == 5
    record.write_text(record.read_text().replace("0.7", "0.5", 1))
    with pytest.raises(ValueError, match="refusing to extend it"):
        AgreementRecord(record)


def test_cli_verify(record, capsys):
    folder = record.parent
    assert main(["verify", str(folder)]) == 0
    assert capsys.readouterr().out.startswith(f"ok        {record} (4 entries)")
    record.write_text(record.read_text().replace('"payee": "a"', '"payee": "z"'))
    assert main(["verify", str(folder)]) == 1
    assert "tampered" in capsys.readouterr().out
    assert main(["verify", str(folder / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no agreements.jsonl" in err
