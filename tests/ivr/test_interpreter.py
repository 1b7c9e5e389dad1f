"""The interpreter: every node type, retries, validation, lookups, failures, the step limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from parley.clock import VirtualClock
from parley.events import Dtmf, HangupCause, PlaybackFinished
from parley.ivr.commands import (
    AnswerCall,
    Collect,
    EndCall,
    EnqueueCall,
    FlowTimeline,
    HttpLookup,
    LookupResult,
    Play,
    PromptFile,
    QueueResult,
    RecordMessage,
    RegisterCallback,
    Say,
    SayValue,
    SendToVoicemail,
    Speech,
    TimerExpired,
    TransferCall,
    TransferResult,
)
from parley.ivr.environment import IvrEnvironment, NumberLists, QueueFigure, QueueSnapshot
from parley.ivr.errors import FlowError
from parley.ivr.interpreter import FlowRun
from parley.ivr.validator import validate_flow
from parley.testing.ivr import Call, flow_text, make_flow

BYE = """
bye:
  type: hangup
"""


def test_play_then_hangup() -> None:
    flow = make_flow("""
start:
  type: play
  prompt:
    - welcome
    - text: "Hello ${ani}"
    - say: digits
      value: dnis
  next: bye
""" + BYE)
    call = Call(flow, ani="+331", dnis="600")
    commands = call.start()
    assert isinstance(commands[0], AnswerCall)
    play = call.last(Play)
    assert play.prompts == (PromptFile("welcome"), Speech("Hello +331"), SayValue("digits", "600"))
    assert not call.run.finished
    call.finish_play()
    end = call.last(EndCall)
    assert end.cause is HangupCause.NORMAL_CLEARING
    assert end.answered
    assert call.run.finished
    assert call.kinds() == ["entered flow", "hung up"]


def test_stale_and_foreign_results_are_ignored() -> None:
    flow = make_flow("""
start:
  type: play
  prompt: a
  next: bye
""" + BYE)
    call = Call(flow)
    call.start()
    assert call.send(PlaybackFinished("someone-else", "call-1", "done")) == []
    assert call.send(Dtmf("call-1", "5", 100, "rfc4733")) == []
    assert call.send(TimerExpired("call-1")) == []
    assert not call.run.finished
    call.finish_play()
    assert call.run.finished
    assert call.send(PlaybackFinished("x", "call-1", "done")) == []  # after the end: nothing


MENU = """
start:
  type: menu
  prompt: choose
  options:
    "1": sales
    "2": support
  timeout: 4
  retries: 2
  invalid_prompt: pbx-invalid
  timeout_prompt: please-try-again
  on_timeout: support
  on_invalid: bye
sales:
  type: queue
  queue: sales
support:
  type: queue
  queue: support
""" + BYE


def test_menu_choice() -> None:
    call = Call(make_flow(MENU))
    call.start()
    collect = call.last(Collect)
    assert collect.prompts == (PromptFile("choose"),)
    assert (collect.max_digits, collect.timeout) == (1, 4.0)
    call.press("2")
    enqueue = call.last(EnqueueCall)
    assert enqueue.queue == "support"
    assert call.run.handed_off
    assert call.run.outcome == "queued"
    choice = next(e for e in call.run.timeline if e.kind == "menu choice")
    assert choice.detail == {"digit": "2"}
    assert choice.node == "start"


def test_menu_retries_after_invalid_then_accepts() -> None:
    call = Call(make_flow(MENU))
    call.start()
    call.press("7")
    retry = call.last(Collect)
    assert retry.prompts == (PromptFile("pbx-invalid"), PromptFile("choose"))
    call.no_input()
    retry = call.last(Collect)
    assert retry.prompts == (PromptFile("please-try-again"), PromptFile("choose"))
    call.press("1")
    assert call.last(EnqueueCall).queue == "sales"
    assert call.kinds() == ["entered flow", "menu offered", "menu invalid input",
                            "menu no input", "menu choice", "queued"]


def test_menu_retries_exhausted_by_timeouts_and_by_invalid_input() -> None:
    call = Call(make_flow(MENU))
    call.start()
    for _ in range(3):
        call.no_input()
    assert call.last(EnqueueCall).queue == "support"  # on_timeout
    assert len([c for c in call.actions if isinstance(c, Collect)]) == 3

    call = Call(make_flow(MENU))
    call.start()
    call.no_input()
    call.press("9")
    call.press("#")
    assert call.last(EndCall).cause is HangupCause.NORMAL_CLEARING  # on_invalid: bye
    assert "retries exhausted" in call.kinds()


def test_menu_falls_back_to_on_failure() -> None:
    flow = make_flow("""
start:
  type: menu
  prompt: choose
  options: {"1": bye}
  retries: 0
  on_failure: fail
fail:
  type: hangup
  cause: no_user_response
""" + BYE)
    call = Call(flow)
    call.start()
    call.no_input()
    assert call.last(EndCall).cause is HangupCause.NO_USER_RESPONSE


COLLECT = """
start:
  type: collect
  prompt: enter-account
  variable: account
  min_length: 4
  max_length: 6
  pattern: "[1-9][0-9]*"
  min: 1000
  max: 500000
  terminators: "#"
  timeout: 6
  inter_digit_timeout: 2
  retries: 1
  invalid_prompt: pbx-invalid
  next: done
  on_failure: fail
done:
  type: say
  kind: digits
  value: account
  next: bye
fail:
  type: hangup
  cause: no_user_response
""" + BYE


def test_collect_stores_valid_digits() -> None:
    call = Call(make_flow(COLLECT))
    call.start()
    collect = call.last(Collect)
    assert (collect.max_digits, collect.timeout, collect.inter_digit_timeout,
            collect.terminators) == (6, 6.0, 2.0, "#")
    call.press("12345", "terminator")
    assert call.run.variables["account"] == "12345"
    assert call.last(Say) == Say("call-1", call.last(Say).request_id, "digits", "12345")
    collected = next(e for e in call.run.timeline if e.kind == "digits collected")
    assert collected.detail == {"variable": "account", "length": 5}  # never the digits


@pytest.mark.parametrize(("digits", "problem"), [
    ("123", "length 3 outside 4-6"),
    ("0123", "does not match the pattern"),
    ("999", "length 3 outside 4-6"),
    ("999999", "above 500000"),
])
def test_collect_rejects_invalid_digits_and_retries(digits: str, problem: str) -> None:
    call = Call(make_flow(COLLECT))
    call.start()
    call.press(digits, "terminator")
    assert "account" not in call.run.variables
    invalid = next(e for e in call.run.timeline if e.kind == "collect invalid")
    assert invalid.detail["problem"] == problem
    assert call.last(Collect).prompts == (PromptFile("pbx-invalid"), PromptFile("enter-account"))
    call.press("4321", "terminator")
    assert call.run.variables["account"] == "4321"


def test_collect_gives_up_after_retries() -> None:
    call = Call(make_flow(COLLECT))
    call.start()
    call.no_input()
    call.press("1", "timeout")
    assert call.last(EndCall).cause is HangupCause.NO_USER_RESPONSE
    assert call.kinds()[-2:] == ["retries exhausted", "hung up"]


def test_say_number_and_duration() -> None:
    flow = make_flow("""
start:
  type: say
  kind: number
  value: "queue_calls_waiting('support')"
  next: wait
wait:
  type: say
  kind: duration
  value: "queue_expected_wait('support')"
  next: bad
bad:
  type: say
  kind: number
  value: "'many'"
  next: bye
""" + BYE)
    env = IvrEnvironment(queues=QueueSnapshot({"support": QueueFigure(150.0, 2, 5)}))
    call = Call(flow, env=env)
    call.start()
    assert (call.last(Say).kind, call.last(Say).value) == ("number", "5")
    call.finish_play()
    assert (call.last(Say).kind, call.last(Say).value) == ("duration", "150")
    call.finish_play()
    # "many" cannot be said as a number: a run-time flow error, the call ends cleanly.
    assert call.last(EndCall).cause is HangupCause.TEMPORARY_FAILURE
    error = next(e for e in call.run.timeline if e.kind == "flow error")
    assert error.node == "bad"
    assert "cannot say 'many'" in error.detail["error"]


def test_condition_and_set() -> None:
    flow = make_flow("""
start:
  type: set
  variables:
    greeting: '"hi " + ani'
    score: "len(ani) * 2"
  next: check
check:
  type: condition
  if: score > 5 and in_list("vip", ani)
  then: vip
  else: normal
vip:
  type: queue
  queue: vip
  priority: score
normal:
  type: queue
  queue: normal
""")
    env = IvrEnvironment(lists=NumberLists({"vip": ["1234"]}))
    call = Call(flow, ani="1234", env=env)
    call.start()
    assert call.run.variables["greeting"] == "hi 1234"
    enqueue = call.last(EnqueueCall)
    assert (enqueue.queue, enqueue.priority) == ("vip", 8)
    assert enqueue.attached["greeting"] == "hi 1234"
    assert enqueue.attached["ani"] == "1234"
    condition = next(e for e in call.run.timeline if e.kind == "condition")
    assert condition.detail["result"] is True
    other = Call(flow, ani="99", env=env)
    other.start()
    assert other.last(EnqueueCall).queue == "normal"


def test_condition_on_time_and_holidays_in_the_flow_time_zone() -> None:
    flow = make_flow("""
start:
  type: condition
  if: weekday_in("mon", "fri") and time_between("09:00", "18:00") and not is_holiday()
  then: open
  else: closed
open:
  type: queue
  queue: support
closed:
  type: voicemail
  mailbox: support
""", header="""
timezone: America/New_York
holidays: [2026-01-19]
""")

    def queue_at(moment: datetime) -> str:
        call = Call(flow, clock=VirtualClock(wall_epoch=moment))
        call.start()
        command = call.actions[-1]
        return "open" if isinstance(command, EnqueueCall) else "closed"

    # Monday 2026-01-12 14:30 UTC = 09:30 in New York: open.
    assert queue_at(datetime(2026, 1, 12, 14, 30, tzinfo=UTC)) == "open"
    # The same instant's 13:30 UTC is 08:30 in New York: closed.
    assert queue_at(datetime(2026, 1, 12, 13, 30, tzinfo=UTC)) == "closed"
    # Monday 2026-01-19 (Martin Luther King Day, a holiday in the flow): closed.
    assert queue_at(datetime(2026, 1, 19, 15, 0, tzinfo=UTC)) == "closed"
    # Saturday: closed.
    assert queue_at(datetime(2026, 1, 17, 15, 0, tzinfo=UTC)) == "closed"
    # A virtual clock moving over the day changes the answer for new calls.
    clock = VirtualClock(wall_epoch=datetime(2026, 1, 13, 13, 0, tzinfo=UTC))
    results = []
    for _ in range(3):
        call = Call(flow, clock=clock)
        call.start()
        results.append(type(call.actions[-1]).__name__)
        clock.advance(3600)
    assert results == ["SendToVoicemail", "EnqueueCall", "EnqueueCall"]


LOOKUP = """
start:
  type: lookup
  method: POST
  url: https://crm.example.com/api/customers/${ani}?src=ivr
  headers:
    X-Caller: "${ani}"
  body:
    phone: ani
    called: dnis
  timeout: 2
  variable: customer
  next: found
  fallback: unknown
found:
  type: queue
  queue: support
  data:
    customer_name: customer.name
unknown:
  type: queue
  queue: general
"""


def test_lookup_success_stores_the_card() -> None:
    call = Call(make_flow(LOOKUP), ani="+33 1/2")
    call.start()
    request = call.last(HttpLookup)
    assert request.method == "POST"
    assert request.url == "https://crm.example.com/api/customers/%2B33%201%2F2?src=ivr"
    assert request.headers == (("X-Caller", "+33 1/2"),)
    assert json.loads(request.body or "") == {"phone": "+33 1/2", "called": "600"}
    assert request.timeout == 2.0
    deadline = call.run.next_deadline
    assert deadline is not None
    assert (deadline - call.clock.utcnow()).total_seconds() == 2.0
    call.answer_lookup(200, {"name": "Ada", "tier": "gold"})
    enqueue = call.last(EnqueueCall)
    assert enqueue.queue == "support"
    assert enqueue.attached["customer_name"] == "Ada"
    assert enqueue.attached["customer"] == {"name": "Ada", "tier": "gold"}
    assert "lookup succeeded" in call.kinds()


@pytest.mark.parametrize(("status", "data", "error", "reason"), [
    (0, None, "timeout", "timeout"),
    (500, {"oops": 1}, "", "HTTP 500"),
    (0, None, "connection refused", "connection refused"),
])
def test_lookup_failure_takes_the_fallback(status: int, data: object, error: str,
                                           reason: str) -> None:
    call = Call(make_flow(LOOKUP))
    call.start()
    call.answer_lookup(status, data, error)
    assert call.last(EnqueueCall).queue == "general"
    assert call.run.variables["customer"] is None
    failed = next(e for e in call.run.timeline if e.kind == "lookup failed")
    assert failed.detail == {"reason": reason}


def test_lookup_timeout_enforced_by_the_run_itself() -> None:
    call = Call(make_flow(LOOKUP))
    call.start()
    call.clock.advance(1.9)
    assert call.send(TimerExpired("call-1")) == []  # too early: still waiting
    call.clock.advance(0.1)
    call.send(TimerExpired("call-1"))
    assert call.last(EnqueueCall).queue == "general"
    late = call.last(HttpLookup)
    # The late answer is ignored: the call already went on.
    assert call.send(LookupResult("call-1", late.request_id, 200, {"name": "Ada"})) == []


def test_queue_refused_goes_to_on_failure_or_ends() -> None:
    flow = make_flow("""
start:
  type: queue
  queue: sales
  priority: "3"
  skills: [english, billing]
  on_failure: overflow
overflow:
  type: queue
  queue: general
""")
    call = Call(flow)
    call.start()
    first = call.last(EnqueueCall)
    assert first.skills == ("english", "billing")
    assert call.send(QueueResult("call-1", first.request_id, accepted=True)) == []
    assert call.run.handed_off
    call.send(QueueResult("call-1", first.request_id, accepted=False, reason="queue closed"))
    second = call.last(EnqueueCall)
    assert second.queue == "general"
    call.send(QueueResult("call-1", second.request_id, accepted=False, reason="full"))
    assert call.last(EndCall).cause is HangupCause.TEMPORARY_FAILURE
    assert call.run.finished


def test_priority_must_be_a_number_at_run_time() -> None:
    flow = make_flow("""
start:
  type: queue
  queue: sales
  priority: "x"
""")
    call = Call(flow, variables={"x": "high"})
    call.start()
    assert call.last(EndCall).cause is HangupCause.TEMPORARY_FAILURE
    assert "priority must be a number" in call.run.timeline[-2].detail["error"]


def test_transfer_to_operator_number_and_flow() -> None:
    flow = make_flow("""
start:
  type: transfer
  to: operator
  target: "10${dnis}"
  on_failure: external
external:
  type: transfer
  to: number
  target: "+33123456789"
""")
    call = Call(flow, dnis="01")
    call.start()
    transfer = call.last(TransferCall)
    assert (transfer.kind, transfer.target) == ("operator", "1001")
    call.send(TransferResult("call-1", transfer.request_id, ok=False, reason="no answer"))
    assert (call.last(TransferCall).kind, call.last(TransferCall).target) == \
        ("number", "+33123456789")
    assert call.run.outcome == "transferred"

    other = make_flow("""
start:
  type: play
  prompt: other-flow
  next: bye
""" + BYE)
    hop = make_flow("""
start:
  type: transfer
  to: flow
  target: other
  on_failure: bye
""" + BYE)
    env = IvrEnvironment(flows=lambda name: other if name == "other" else None)
    call = Call(hop, env=env)
    call.start()
    assert call.last(Play).prompts == (PromptFile("other-flow"),)
    assert "transferred to flow" in call.kinds()
    lost = Call(hop)  # no such flow: on_failure
    lost.start()
    assert lost.last(EndCall).cause is HangupCause.NORMAL_CLEARING
    assert "handoff failed" in lost.kinds()


def test_voicemail_after_its_prompt() -> None:
    flow = make_flow("""
start:
  type: voicemail
  mailbox: "queue-${dnis}"
  prompt: vm-intro
""")
    call = Call(flow, dnis="602")
    call.start()
    assert call.last(Play).prompts == (PromptFile("vm-intro"),)
    call.finish_play()
    voicemail = call.last(SendToVoicemail)
    assert voicemail.mailbox == "queue-602"
    assert voicemail.attached["ani"] == "+33100000001"
    assert call.run.outcome == "voicemail"


def test_callback_offer_accepted_and_declined() -> None:
    flow = make_flow("""
start:
  type: callback
  queue: support
  prompt: press-1-for-callback
  number: '"0" + ani'
  confirm_prompt: thank-you
  accepted: bye
  declined: wait
wait:
  type: queue
  queue: support
""" + BYE)
    call = Call(flow, ani="612345678")
    call.start()
    call.press("1")
    register = call.last(RegisterCallback)
    assert (register.queue, register.number) == ("support", "0612345678")
    assert call.last(Play).prompts == (PromptFile("thank-you"),)
    call.finish_play()
    assert call.last(EndCall).cause is HangupCause.NORMAL_CLEARING
    declined = Call(flow)
    declined.start()
    declined.no_input()
    assert declined.last(EnqueueCall).queue == "support"
    assert not any(isinstance(c, RegisterCallback) for c in declined.commands)


def test_record_a_message() -> None:
    flow = make_flow("""
start:
  type: record
  prompt: vm-leavemsg
  variable: message
  max_seconds: 60
  beep: true
  next: bye
""" + BYE)
    call = Call(flow)
    call.start()
    call.finish_play()
    record = call.last(RecordMessage)
    assert (record.max_seconds, record.beep, record.terminators) == (60.0, True, "#")
    call.finish_recording("/var/parley/rec/1.wav", 12.34)
    assert call.run.variables["message"] == "/var/parley/rec/1.wav"
    assert [e.detail for e in call.run.timeline if e.kind == "message recorded"] == \
        [{"seconds": 12.3}]
    assert call.run.finished


def test_hangup_with_prompt_and_cause() -> None:
    flow = make_flow("""
start:
  type: hangup
  cause: user_busy
  prompt: [sorry, {text: "Goodbye"}]
""")
    call = Call(flow)
    call.start()
    call.finish_play()
    assert call.last(EndCall).cause is HangupCause.USER_BUSY


def test_caller_hangs_up_while_waiting() -> None:
    call = Call(make_flow(MENU))
    call.start()
    call.hang_up()
    assert call.run.finished
    assert call.run.outcome == "caller hung up"
    assert call.kinds()[-1] == "caller hung up"
    assert not any(isinstance(c, EndCall) for c in call.commands)
    assert call.run.handle(TimerExpired("call-1"), call.clock.utcnow()) == []


SCREENED = """
start:
  type: queue
  queue: support
lost:
  type: hangup
"""


def test_blacklisted_caller_is_rejected_before_the_flow() -> None:
    flow = make_flow(SCREENED, header="""
screening:
  list: blacklist
on_error: lost
""")
    env = IvrEnvironment(lists=NumberLists({"blacklist": ["666"]}))
    call = Call(flow, ani="666", env=env)
    commands = call.start()
    assert [type(c) for c in commands] == [FlowTimeline, FlowTimeline, EndCall]
    end = call.last(EndCall)
    assert end.cause is HangupCause.CALL_REJECTED
    assert not end.answered  # rejected without answering
    assert call.run.outcome == "rejected"
    assert call.kinds() == ["caller screened", "hung up"]
    welcome = Call(flow, ani="123", env=env)
    welcome.start()
    assert welcome.last(EnqueueCall).queue == "support"


def test_screening_treatments_prompt_or_node() -> None:
    env = IvrEnvironment(lists=NumberLists({"nuisance": ["666"]}))
    with_prompt = make_flow(SCREENED, header="""
screening:
  list: nuisance
  prompt: privacy-unident
  cause: normal_clearing
on_error: lost
""")
    call = Call(with_prompt, ani="666", env=env)
    call.start()
    assert isinstance(call.actions[0], AnswerCall)
    call.finish_play()
    assert call.last(EndCall).cause is HangupCause.NORMAL_CLEARING
    assert call.run.outcome == "rejected"
    to_node = make_flow(SCREENED, header="""
screening:
  list: nuisance
  node: lost
""")
    call = Call(to_node, ani="666", env=env)
    call.start()
    assert call.last(EndCall).answered


def test_step_limit_stops_a_busy_loop_and_takes_the_error_exit() -> None:
    text = flow_text("""
start:
  type: set
  variables: {n: "default(n, 0) + 1"}
  next: again
again:
  type: condition
  if: n > 0
  then: start
  else: sorry
sorry:
  type: hangup
  cause: temporary_failure
  prompt: sorry
""", header="on_error: sorry\nmax_steps: 50")
    flow = validate_flow(text, "loop.yaml").require()
    call = Call(flow)
    call.start()
    play = call.last(Play)
    assert play.prompts == (PromptFile("sorry"),)
    error = next(e for e in call.run.timeline if e.kind == "flow error")
    assert "step limit of 50 reached" in error.detail["error"]
    call.finish_play()
    assert call.last(EndCall).cause is HangupCause.TEMPORARY_FAILURE


def test_step_limit_without_error_exit_hangs_up() -> None:
    flow = make_flow("""
start:
  type: condition
  if: "true"
  then: start
  else: bye
""" + BYE)
    call = Call(flow, max_steps=10)
    call.start()
    assert call.last(EndCall).cause is HangupCause.TEMPORARY_FAILURE
    assert call.run.outcome == "failed"


def test_an_error_inside_the_error_path_ends_the_call() -> None:
    flow = make_flow("""
start:
  type: set
  variables: {x: "1 / zero"}
  next: bye
oops:
  type: set
  variables: {y: "1 / zero"}
  next: bye
""" + BYE, header="on_error: oops\nvariables:\n  zero: 0")
    call = Call(flow)
    call.start()
    assert call.last(EndCall).cause is HangupCause.TEMPORARY_FAILURE
    assert call.kinds().count("flow error") == 2


def test_start_requires_aware_time_and_once() -> None:
    run = FlowRun(make_flow(BYE, start="bye"), call_id="c", ani="1", dnis="2")
    with pytest.raises(FlowError, match="timezone-aware"):
        run.start(datetime(2026, 1, 1))
    run.start(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(FlowError, match="already started"):
        run.start(datetime(2026, 1, 1, tzinfo=UTC))


def test_default_variables_and_call_variables() -> None:
    flow = make_flow("""
start:
  type: queue
  queue: "${team}"
  priority: level
""", header="variables:\n  team: '\"support\"'\n  level: 2")
    call = Call(flow, variables={"team": "sales"})
    call.start()
    enqueue = call.last(EnqueueCall)
    assert (enqueue.queue, enqueue.priority) == ("sales", 2)


def test_a_failing_default_variable_takes_the_error_exit() -> None:
    flow = make_flow("""
start:
  type: queue
  queue: sales
sorry:
  type: hangup
  cause: temporary_failure
  prompt: sorry
""", header="on_error: sorry\nvariables:\n  share: 10 / parts")
    call = Call(flow, variables={"parts": 0})
    call.start()
    assert call.last(Play).prompts == (PromptFile("sorry"),)
    assert call.kinds() == ["entered flow", "flow error"]
    assert "field 'variables.share'" in call.run.timeline[-1].detail["error"]
    assert "division by zero" in call.run.timeline[-1].detail["error"]


def test_a_run_resumed_at_a_node_goes_on_from_its_start_with_the_variables_kept() -> None:
    flow = make_flow("""
start:
  type: play
  prompt: welcome
  next: ask
ask:
  type: menu
  prompt: choose
  options:
    "1": done
  timeout: 4
  on_failure: bye
done:
  type: play
  prompt:
    - text: "Thanks ${name}"
  next: bye
""" + BYE)
    call = Call(flow, variables={"name": "Ann"})
    commands = call._keep(call.run.resume_at("ask", call.clock.utcnow()))
    # no answer, no screening, no welcome: the menu again, from its prompt
    assert not any(isinstance(c, AnswerCall | Play) for c in commands)
    assert call.last(Collect).prompts == (PromptFile("choose"),)
    assert call.kinds() == ["resumed", "menu offered"]
    assert call.run.timeline[0].node == "ask"
    call.press("1")
    assert call.last(Play).prompts == (Speech("Thanks Ann"),)
    with pytest.raises(FlowError, match="already started"):
        call.run.resume_at("ask", call.clock.utcnow())
    fresh = Call(flow)
    with pytest.raises(FlowError, match="no node 'gone'"):
        fresh.run.resume_at("gone", fresh.clock.utcnow())
