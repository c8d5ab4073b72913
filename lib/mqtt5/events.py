"""Events the session hands to its adapter, and the session states (both re-exported
by mqtt5.session)."""

from .errors import MQTTError

# ---- event kinds (public) -------------------------------------------------------------
CONNECTED = 1  # ev.packet = Connack; ev.session_present, ev.reason_code, ev.props
MESSAGE = 2  # ev.packet = Publish (topic, payload memoryview, qos, retain, dup, props)
PUBLISH_DONE = 3  # ev.packet_id, ev.reason_code, ev.props, ev.error (None on success)
SUBSCRIBED = 4  # ev.packet_id, ev.reason_codes (one per filter), ev.props, ev.error
UNSUBSCRIBED = 5  # ev.packet_id, ev.reason_codes, ev.props, ev.error
DISCONNECTED = 6  # ev.reason_code, ev.props, ev.by_server (True: server sent DISCONNECT)
LINK_DEAD = 7  # keep-alive expired: nothing received for 1.5 x keep alive
ERROR = 8  # fatal: ev.error (MQTTError naming the code), ev.reason_code, ev.packet

# ---- session states (public) ----------------------------------------------------------
CLOSED = 0  # no connection (initial, after DISCONNECT either way, error, link dead)
CONNECTING = 1  # CONNECT queued, waiting for CONNACK
ESTABLISHED = 2  # CONNACK 0x00 received (is_connected)


class Event:
    """The session's single, reusable event object.

    ``next_event()`` refills and returns the SAME instance each time: it is valid until
    the next ``next_event()`` call; copy what you need.  Fields not relevant to
    ``kind`` are None/0/False.

    - kind: one of CONNECTED, MESSAGE, PUBLISH_DONE, SUBSCRIBED, UNSUBSCRIBED,
      DISCONNECTED, LINK_DEAD, ERROR
    - packet: decoded packet (Connack for CONNECTED / refused-connect ERROR, Publish for
      MESSAGE, the ack for PUBLISH_DONE/SUBSCRIBED/UNSUBSCRIBED, Disconnect for a
      server DISCONNECTED), else None
    - packet_id (MESSAGE: 0 for QoS 0), reason_code (PUBLISH_DONE for QoS 2: PUBCOMP's
      code if it failed, else PUBREC's, so 0x10 is seen), reason_codes (bytes, one per
      filter, SUBSCRIBED/UNSUBSCRIBED), props (None or dict)
    - session_present (CONNECTED), by_server (DISCONNECTED)
    - error: None on success, else an MQTTError whose message names the reason code
      (e.g. "PUBACK 0x87 Not authorized"); reason codes < 0x80 are success (0x10 No
      matching subscribers included).  For SUBSCRIBED/UNSUBSCRIBED: the first failing
      per-filter code.  The error also has ``.reason_code``.
    - PUBLISH_DONE/SUBSCRIBED/UNSUBSCRIBED with reason_code 0x80 and packet None: the
      server had no session for us (Session Present 0), the request is lost.
    """

    def __init__(self):
        self._clear(0)

    def _clear(self, kind):
        self.kind = kind
        self.packet = None
        self.packet_id = 0
        self.reason_code = 0
        self.reason_codes = None
        self.props = None
        self.session_present = False
        self.by_server = False
        self.error = None


def rc_error(what, code):
    """MQTTError naming a failing reason code, e.g. 'PUBACK 0x87 Not authorized'."""
    from .reason_codes import name  # lazy: error path only
    e = MQTTError("%s 0x%02X %s" % (what, code, name(code)))
    e.reason_code = code
    return e
