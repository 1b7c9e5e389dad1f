"""Call control over real SIP and RTP (DESIGN.md §3): channels, bridges, originate, events.

- :class:`parley.telephony.server.Telephony` / ``TelephonySettings``: a running SIP server
  (UDP+TCP, registrar, B2BUA, RTP relay); ``originate()``, ``bridge()``, ``subscribe()``.
- :class:`parley.telephony.channel.Channel`: ``ring()``, ``answer()``, ``hangup(cause)``,
  ``hold()``/``unhold()``, ``wait_answered()``, ``wait_ended()``; media: ``play()``,
  ``collect()``, ``record()``, ``start_moh()``/``stop_moh()``, ``send_dtmf()``, ``echo()``,
  ``detect_machine()``; ``Bridge`` with roles participant, listen, whisper, barge.
- :mod:`parley.telephony.leg`: a channel's internal SIP side, ``SipLeg``: it runs the channel's
  pure ``parley.sip.session.InviteSession`` through the engine (call control never needs it).
- :mod:`parley.telephony.media`: the media shell (one ticker task, the media hub, events),
  ``Playback``, ``CallRecording``, ``Speech``, ``Tone``.
- :mod:`parley.telephony.dialplan`: extension-to-extension calls, number handlers.
- :mod:`parley.telephony.users`: the ``UserDirectory`` seam (HA1 per algorithm, static contact).
- :mod:`parley.telephony.causes`: Q.850 causes to SIP status codes and back.
- :mod:`parley.telephony.refer`: call transfer by REFER: ``ReferRequest``, ``Replaces``
  (``Telephony.handle_refers`` names the transfer handler; ``Telephony.find_dialog`` finds a
  replaced call).
- :mod:`parley.telephony.registrations`: ``UserRegistered`` / ``UserUnregistered`` events.
"""

from parley.telephony.refer import ReferRequest, Replaces

__all__ = ["ReferRequest", "Replaces"]
