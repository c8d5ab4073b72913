"""The event the session hands to its adapter: its kinds and the session's states
(the reused ``Event`` itself lives in mqtt5.inbound, which fills it: a connected node
loads this module only for the "not connected" error below).

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

from .inbound import Event  # noqa: F401  (its home: inbound.py)


def not_connected(c):
    """The error of a client's call that finds no link (a new one each time: a raised
    exception grows its traceback), with why the last one ended (``c.error``)."""
    from .errors import MQTTError  # (error path only: no name kept by the module)

    return MQTTError("not connected" + (": %s" % c.error if c.error else ""))
