"""Campaigns and do-not-call lists in the provisioning YAML: the contract keys, errors that
name the campaign, the key and the line, and a supervisor's pause kept across a re-import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from parley.config import ConfigError
from parley.dialer.model import AbandonDefinition, DialMode, NumberType, Outcome
from parley.provisioning import export_text, import_file, parse_document
from parley.store import Store

SITE = """\
site:
  time_zone: Europe/Moscow
  default_region: RU
queues:
  - name: support
teams:
  - name: sales
do_not_call:
  - name: regulator
    numbers: ["+79161112233"]
campaigns:
  - name: taxi-waiting
    mode: agentless               # preview | progressive | predictive | agentless
    queue: support                # where answered calls, or "press 1", go
    caller_id: "+74951110000"
    message: "Your taxi, a ${colour} ${car}, plate ${plate}, is waiting. Press 1."
    call_window: any
    active: true
  - name: renewals
    mode: predictive
    team: sales
    queue: support
    script: renewal-offer
    caller_id: "+74951110001"
    call_window:
      mobile: ["09:00-20:00"]
      work: "10:00-18:00 mon-fri"
    holidays: [2027-01-01]
    numbers:
      order: [mobile, work, home]
      attempts_per_number: 3
      attempts_per_contact: 5
    retry: {busy: 15m, no_answer: 2h, machine: 4h, abandoned: 10m, failed: 1800}
    abandon: {cap: 0.02, window: 24h, definition: all_answers}
    machine: message
    machine_message: "Please call us back on 8 800 000 00 00."
    compliance_message: "Sorry, all operators are busy. We will call again."
    ring_timeout_s: 30
    priority: 7
scripts:
  - name: renewal-offer
    blocks:
      - id: offer
        title: Offer
        fields: [{id: accepted, label: "Accepted?", type: choice, options: ["yes", "no"]}]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(text: str, tmp_path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_document(text, str(_write(tmp_path, text)))
    return caught.value


async def test_campaigns_from_yaml_reach_the_dialer(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, SITE)
    changes = await import_file(store, path)
    assert changes["campaigns"] == 2
    assert changes["do_not_call"] == 1
    stored = {c.config.campaign_id: c for c in await store.campaigns.load_campaigns()}
    taxi = stored["taxi-waiting"]
    assert taxi.config.mode is DialMode.AGENTLESS
    assert taxi.status == "running"
    assert "${plate}" in taxi.message
    renewals = stored["renewals"]
    config = renewals.config
    assert renewals.script == "renewal-offer"
    assert renewals.machine_policy == "message"
    assert config.teams == frozenset({"sales"})
    assert config.strategy.number_order == (NumberType.MOBILE, NumberType.WORK,
                                            NumberType.HOME)
    assert config.strategy.max_attempts_per_contact == 5
    assert config.strategy.type_limit(NumberType.WORK) == 3
    assert config.strategy.delay_after(Outcome.NO_ANSWER) == 7200
    assert config.strategy.delay_after(Outcome.FAILED) == 1800
    assert config.abandon_cap == 0.02
    assert config.abandon_window_s == 86400
    assert config.abandon_definition is AbandonDefinition.ALL_ANSWERS
    assert config.compliance_message.startswith("Sorry")
    assert config.ring_timeout_s == 30
    assert config.priority == 7
    assert config.agentless_machine_delivered  # machine: message
    # The default window, 08:00-21:00 in the called party's zone, for the home type the
    # file does not name; the work window is weekdays only; holidays close every window.
    home = config.strategy.calendar(NumberType.HOME)
    assert home.open_in(datetime(2026, 12, 2, 5, 30, tzinfo=UTC), "Europe/Moscow")  # 08:30
    assert not home.open_in(datetime(2026, 12, 2, 4, 30, tzinfo=UTC), "Europe/Moscow")
    work = config.strategy.calendar(NumberType.WORK)
    assert not work.open_in(datetime(2026, 12, 5, 9, 0, tzinfo=UTC), "Europe/Moscow")  # Sat
    assert not config.strategy.calendar(NumberType.MOBILE).open_in(
        datetime(2027, 1, 1, 9, 0, tzinfo=UTC), "Europe/Moscow")
    assert await store.campaigns.do_not_call() == {"regulator": frozenset({"+79161112233"})}
    # Export, then import the export: nothing changes.
    exported = await export_text(store)
    assert "campaigns:" in exported
    assert "do_not_call:" in exported
    assert await import_file(store, _write(tmp_path, exported)) == {}


async def test_a_reimport_keeps_a_supervisors_pause(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, SITE)
    await import_file(store, path)
    await store.campaigns.save_status("taxi-waiting", "paused", by="supervisor-sue")
    assert await import_file(store, path) == {}  # the same file, unchanged
    record = await store.campaigns.campaign("taxi-waiting")
    assert (record.status, record.status_by) == ("paused", "supervisor-sue")
    # An edited message is taken, and the pause still holds.
    await import_file(store, _write(tmp_path, SITE.replace("Press 1.", "Press one.")))
    record = await store.campaigns.campaign("taxi-waiting")
    assert record.spec.message.endswith("Press one.")
    assert record.status == "paused"


def test_a_bad_mode_names_its_line(tmp_path: Path) -> None:
    error = _error(SITE.replace("mode: agentless", "mode: sometimes"), tmp_path)
    assert (error.line, error.field) == (13, "campaigns[0].mode")
    assert "Input should be 'preview', 'progressive'" in str(error)


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("call_window: any", "call_window: 21:00-08:00", "campaigns[0]",
     "campaign 'taxi-waiting': call_window: call window 21:00-08:00"),
    ("call_window: any", "call_window: whenever", "campaigns[0]",
     "campaign 'taxi-waiting': call_window: call window 'whenever'"),
    ("    queue: support                #", "    description: no queue #", "campaigns[0]",
     "campaign 'taxi-waiting': queue: an agentless campaign needs the queue"),
    ("retry: {busy: 15m,", "retry: {busy: soon,", "campaigns[1].retry",
     "busy: 'soon': write a duration"),
    ("abandon: {cap: 0.02,", "abandon: {cap: 2,", "campaigns[1].abandon.cap",
     "less than 1"),
    ("machine: message", "machine: hang_up", "campaigns[1].machine", "Input should be"),
    ("attempts_per_contact: 5", "attempts_per_contact: 0", "campaigns[1].numbers."
     "attempts_per_contact", "greater than or equal to 1"),
    ('numbers: ["+79161112233"]', 'numbers: ["89161112233"]', "do_not_call[0].numbers[0]",
     "String should match"),
])
def test_errors_name_the_campaign_key_and_line(tmp_path: Path, old: str, new: str, field: str,
                                               words: str) -> None:
    assert old in SITE
    error = _error(SITE.replace(old, new), tmp_path)
    assert error.field == field
    assert words in str(error)
    assert error.line is not None


async def test_a_missing_queue_names_the_campaign_line(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, SITE.replace("queue: support                #",
                                         "queue: nowhere                #"))
    with pytest.raises(ConfigError) as caught:
        await import_file(store, path)
    assert caught.value.field == "campaigns[0].queue"
    assert caught.value.line == 14
    assert "no queue named 'nowhere'" in str(caught.value)
    assert await store.campaigns.load_campaigns() == []  # nothing half-written


async def test_a_reimport_keeps_the_numbers_customers_opted_out(store: Store,
                                                                tmp_path: Path) -> None:
    """A "do not call" disposition writes the numbers to the site's list as opt-outs; the
    provisioning file's own ``global`` list is replaced by a re-import, the opt-outs are not
    (a file written before the customer asked must not call them again)."""
    text = SITE.replace('do_not_call:\n', 'do_not_call:\n  - name: global\n'
                        '    numbers: ["+74950000001", "+74950000002"]\n')
    path = _write(tmp_path, text)
    await import_file(store, path)
    assert await store.campaigns.add_to_do_not_call(
        ["+79165550001", "+74950000002"], note="do not call: campaign renewals") == 1
    lists = await store.campaigns.do_not_call()
    assert lists["global"] == {"+74950000001", "+74950000002", "+79165550001"}
    # The same file again, then one whose global list no longer has either number.
    await import_file(store, path)
    await import_file(store, _write(tmp_path, text.replace(
        '["+74950000001", "+74950000002"]', '["+74950000009"]')))
    lists = await store.campaigns.do_not_call()
    assert lists["global"] == {"+74950000009", "+74950000002", "+79165550001"}
    # The export keeps provisioned numbers and opt-outs apart; importing it changes nothing.
    exported = await export_text(store)
    assert "opt_outs:" in exported
    stored = await store.config.get("do_not_call", "global")
    assert stored is not None
    assert stored.model_dump()["numbers"] == ["+74950000009"]
    assert stored.model_dump()["opt_outs"] == ["+74950000002", "+79165550001"]
    assert await import_file(store, _write(tmp_path, exported)) == {}


async def test_the_number_range_table_comes_with_the_file(store: Store,
                                                          tmp_path: Path) -> None:
    """``number_ranges: ranges.csv`` names a CSV beside the file; it is checked whole before
    anything is written, stored, and importing the same file again changes nothing."""
    ranges = tmp_path / "ranges.csv"
    ranges.write_text("prefix,region,zone\n7913,Novosibirsk Oblast,Asia/Novosibirsk\n"
                      "7914,Primorsky Krai,Mars/Olympus\n", encoding="utf-8")
    path = _write(tmp_path, SITE + "number_ranges: ranges.csv\n")
    with pytest.raises(ConfigError) as caught:
        await import_file(store, path)
    assert str(caught.value) == (f"{ranges}:3: 'Mars/Olympus' is not an IANA time zone "
                                 "(e.g. Asia/Novosibirsk) (field 'zone')")
    assert await store.campaigns.load_campaigns() == []  # nothing written
    assert await store.campaigns.number_ranges() is None
    ranges.write_text("prefix,region,zone\n7913,Novosibirsk Oblast,Asia/Novosibirsk\n",
                      encoding="utf-8")
    changes = await import_file(store, path)
    assert changes["number_ranges"] == 1
    record = await store.campaigns.number_ranges()
    assert record is not None
    assert (record.rows, record.updated_by) == (1, "import site.yaml")
    assert await import_file(store, path) == {}
    missing = _write(tmp_path, SITE + "number_ranges: nowhere.csv\n")
    with pytest.raises(ConfigError, match="cannot read the number-range table"):
        await import_file(store, missing)
