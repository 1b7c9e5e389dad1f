"""Which campaign an inbound call belongs to (:func:`parley.center.campaign_inbound.match_call`):
a call back to a campaign's caller ID is that campaign's, with the caller's task of it; any
other call is the campaign of the caller's latest open task; a campaign with
``match_inbound: false`` keeps its tasks out; the data attached carries the task's fields,
the campaign and its script."""

from __future__ import annotations

from parley.center.campaign_inbound import caller_ids, match_call
from parley.center.ports import CampaignTask, ContactProgress, StoredCampaign
from parley.dialer.contacts import Contact, PhoneNumber
from parley.dialer.model import NumberType
from parley.store.campaign_config import campaign_config
from parley.store.specs import CampaignSpec

CALLER = "+79161234567"


def campaign(name: str, caller_id: str, *, script: str = "", queue: str = "support",
             match_inbound: bool = True) -> StoredCampaign:
    spec = CampaignSpec(name=name, mode="progressive", queue=queue, caller_id=caller_id,
                        script=script or None, match_inbound=match_inbound)
    return StoredCampaign(campaign_config(spec, default_region="RU",
                                          default_time_zone="Europe/Moscow"),
                          "created", queue=queue, script=script,
                          match_inbound=match_inbound)


def task(campaign_name: str, contact_id: str, **fields: str) -> CampaignTask:
    contact = Contact(contact_id, (PhoneNumber(CALLER, NumberType.MOBILE, ()),), fields)
    return CampaignTask(campaign_name, ContactProgress(contact, "pending"))


CAMPAIGNS = {"sales": campaign("sales", "+74951110000", script="upsell"),
             "renewals": campaign("renewals", "84951110000"),  # the same number, nationally
             "quiet": campaign("quiet", "+74952220000", match_inbound=False),
             "taxi": campaign("taxi", "+74953330000", script="taxi")}
NUMBERS = caller_ids(CAMPAIGNS)


def test_caller_ids_are_e164_and_shared_numbers_list_every_campaign() -> None:
    assert NUMBERS == {"+74951110000": ("renewals", "sales"), "+74952220000": ("quiet",),
                       "+74953330000": ("taxi",)}


def test_a_call_back_to_a_caller_id_is_that_campaigns_with_the_callers_task() -> None:
    tasks = [task("taxi", "t1"), task("sales", "s1", plate="A123BC")]
    match = match_call("+74951110000", tasks, CAMPAIGNS, NUMBERS)
    assert match is not None
    assert (match.campaign.config.campaign_id, match.called_back) == ("sales", True)
    assert match.task == tasks[1]
    assert match.data() == {"plate": "A123BC", "contact_id": "s1", "campaign": "sales",
                            "script": "upsell"}


def test_a_call_back_without_a_task_still_reaches_the_campaign() -> None:
    match = match_call("+74953330000", [], CAMPAIGNS, NUMBERS)
    assert match is not None
    assert (match.campaign.config.campaign_id, match.task, match.called_back) == (
        "taxi", None, True)
    assert match.data() == {"campaign": "taxi", "script": "taxi"}
    # campaigns sharing a caller ID: the first by name when the caller has no task in any
    shared = match_call("+74951110000", [task("taxi", "t1")], CAMPAIGNS, NUMBERS)
    assert shared is not None
    assert (shared.campaign.config.campaign_id, shared.task) == ("renewals", None)


def test_a_call_to_another_number_is_the_campaign_of_the_latest_task() -> None:
    tasks = [task("taxi", "t2", car="Skoda"), task("sales", "s1")]
    match = match_call("+74950000000", tasks, CAMPAIGNS, NUMBERS)
    assert match is not None
    assert (match.campaign.config.campaign_id, match.called_back) == ("taxi", False)
    assert match.data() == {"car": "Skoda", "contact_id": "t2", "campaign": "taxi",
                            "script": "taxi"}


def test_a_campaign_that_turned_matching_off_keeps_its_tasks_out() -> None:
    assert match_call("+74950000000", [task("quiet", "q1")], CAMPAIGNS, NUMBERS) is None
    # its caller ID still reaches it, without the task
    match = match_call("+74952220000", [task("quiet", "q1")], CAMPAIGNS, NUMBERS)
    assert match is not None
    assert (match.campaign.config.campaign_id, match.task) == ("quiet", None)
    # the next task in line is taken instead
    other = match_call("+74950000000", [task("quiet", "q1"), task("sales", "s1")],
                       CAMPAIGNS, NUMBERS)
    assert other is not None
    assert other.campaign.config.campaign_id == "sales"


def test_no_task_and_no_caller_id_leave_the_call_alone() -> None:
    assert match_call("+74950000000", [], CAMPAIGNS, NUMBERS) is None
    assert match_call("+74950000000", [task("gone", "g1")], CAMPAIGNS, NUMBERS) is None
