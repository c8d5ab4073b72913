"""The event the session hands to its adapter.

The event kinds and session states are public names of mqtt5.session, resolved there
on first use from a string table (a node keeps none of them in RAM); the library
itself uses private ``const()`` copies (host_tests check that they agree):

- event kinds: CONNECTED 1 (ev.session_present, ev.reason_code, ev.props), MESSAGE 2
  (ev.topic, ev.payload: a memoryview, ev.qos, ev.retain, ev.dup, ev.props),
  PUBLISH_DONE 3 (ev.packet_id, ev.reason_code, ev.props, ev.error: None on
  success), SUBSCRIBED 4 (ev.packet_id, ev.reason_codes: one per filter, ev.props,
  ev.error), UNSUBSCRIBED 5 (likewise), DISCONNECTED 6 (ev.reason_code, ev.props,
  ev.by_server: True when the server sent DISCONNECT), LINK_DEAD 7 (ev.error: nothing
  received for 1.5 x keep alive, or no ack for ack_timeout_ms), ERROR 8 (fatal:
  ev.error naming the code, ev.reason_code, ev.packet), REAUTHENTICATED 9 (AUTH 0x00
  ended a reauthenticate() exchange: ev.props, spec 4.12.1);
- session states: CLOSED 0 (no connection: initial, after DISCONNECT either way, an
  error, a dead link), CONNECTING 1 (CONNECT queued, waiting for CONNACK),
  ESTABLISHED 2 (CONNACK 0x00 received: is_connected).
"""

class Event:
    """The session's single, reusable event object.

    ``next_event()`` refills and returns the SAME instance each time: it is valid until
    the next ``next_event()`` call; copy what you need.  Fields not relevant to
    ``kind`` are None/0/False.

    - kind: one of CONNECTED, MESSAGE, PUBLISH_DONE, SUBSCRIBED, UNSUBSCRIBED,
      DISCONNECTED, LINK_DEAD, ERROR, REAUTHENTICATED (adapters ignore kinds they do
      not know)
    - packet: the decoded packet, else None.  CONNACK (CONNECTED, a refused-connect
      ERROR), PUBLISH (MESSAGE), SUBACK and UNSUBACK (SUBSCRIBED, UNSUBSCRIBED) and a
      server's DISCONNECT (DISCONNECTED) are decoded into the event itself, so
      ``packet`` is the event: ``ev.packet.topic`` is ``ev.topic``.  A PUBACK
      without properties is not decoded (None: its code is in reason_code); other
      acks and AUTH (REAUTHENTICATED) are packet objects of mqtt5.packets; for a lost
      request see below.
    - packet_id (MESSAGE: 0 for QoS 0), reason_code (PUBLISH_DONE for QoS 2: PUBCOMP's
      code if it failed, else PUBREC's, so 0x10 is seen), reason_codes (bytes, one per
      filter, SUBSCRIBED/UNSUBSCRIBED), props (None or dict)
    - session_present (CONNECTED), by_server (DISCONNECTED)
    - server_reference: the Server Reference property (spec 4.11) of a CONNACK or
      server DISCONNECT, else None.  With reason code 0x9C Use another server
      (temporary) or 0x9D Server moved (permanent) it names where to connect instead;
      also kept as ``Session.server_reference`` until the next connect().
    - error: None on success, else an MQTTError whose message names the reason code
      (e.g. "PUBACK 0x87 Not authorized"); reason codes < 0x80 are success (0x10 No
      matching subscribers included).  For SUBSCRIBED/UNSUBSCRIBED: the first failing
      per-filter code.  The error also has ``.reason_code``.
    - Session lost: after CONNACK with Session Present 0 (a clean start, or the
      server had no session), every request that went out on an earlier connection
      ends with its usual event (PUBLISH_DONE, SUBSCRIBED, UNSUBSCRIBED) right after
      CONNECTED, with reason_code 0x80 and error a ``mqtt5.session.SessionLost``
      (``isinstance`` tells it apart from a server's 0x80); packet is
      the request to send again as a NEW message if wanted (a Publish: topic,
      payload, qos, retain, props; a Subscribe/Unsubscribe: topics, props); a QoS 2
      Publish past PUBREC too (a server may deliver it only at PUBREL; sent again it
      may arrive twice, surely so once our PUBREL reached the server: the error's
      ``released`` is True once PUBREC had come, our PUBREL then due).
    - Other local failures (e.g. a queued request over the server's Maximum Packet
      Size when it was finally encoded): the request's event with reason_code 0x95
      (or 0x80) and error; packet None.
    """

    def _clear(self, kind):  # (also what makes a new one: Event()._clear(0))
        self.kind = kind
        self.packet = None
        self.packet_id = 0
        self.reason_code = 0
        self.reason_codes = None
        self.props = None
        self.session_present = False
        self.by_server = False
        self.error = None
        self.server_reference = None


def not_connected(c):
    """The error of a client's call that finds no link (a new one each time: a raised
    exception grows its traceback), with why the last one ended (``c.error``)."""
    from .errors import MQTTError  # (error path only: no name kept by the module)

    return MQTTError("not connected" + (": %s" % c.error if c.error else ""))
