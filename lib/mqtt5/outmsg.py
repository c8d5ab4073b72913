"""Outgoing application messages: the v5 properties of a PUBLISH from keyword
arguments (Client.publish(), mqtt5.Will), the check that a payload declared as text
is UTF-8, and the Will.  Loaded only when a message we send carries properties, or
with a Will: a plain publish needs none of it.
"""

from .wire import payload_bytes, utf8_ok

# v5 property identifiers [MQTT-2.2.2.2]
_PAYLOAD_FORMAT = const(0x01)
_EXPIRY = const(0x02)
_CONTENT_TYPE = const(0x03)
_RESPONSE_TOPIC = const(0x08)
_CORRELATION = const(0x09)
_SUBSCRIPTION_IDENTIFIER = const(0x0B)
_WILL_DELAY = const(0x18)
_USER_PROPERTY = const(0x26)


def check_text(payload, props):
    """ValueError when ``props`` carry a Payload Format Indicator of 1 and
    ``payload`` is not well-formed UTF-8: the indicator declares the payload text
    (spec 3.3.2.3.2), and a server that checks it refuses the message (0x99
    Payload format invalid), for QoS 0 by closing the connection."""
    if props and props.get(_PAYLOAD_FORMAT) == 1 and not utf8_ok(payload):
        # U+0000 is text here, unlike in an MQTT string; a 0 byte is never part of a
        # longer UTF-8 sequence, so the pieces between them are checked on their own
        for part in bytes(payload).split(b"\0"):
            if not utf8_ok(part):
                raise ValueError("payload_format_indicator=1, but the payload is not UTF-8 "
                                 "text")


def app_props(base, content_type, payload_format_indicator, message_expiry_interval,
              response_topic, correlation_data, user_properties):
    """The {property_id: value} dict of an application message (PUBLISH or Will)
    from keyword values; `base` (a raw dict or None) is merged in; `base` as given
    when no keyword value is set.
    ValueError when `base` holds a Subscription Identifier, which only the server
    puts in a PUBLISH [MQTT-3.3.4-6] (a received message's props passed on as they
    are, say)."""
    if base and _SUBSCRIPTION_IDENTIFIER in base:
        raise ValueError("a Subscription Identifier (property 0x0B) is the server's to "
                         "send: a client's PUBLISH may not carry one [MQTT-3.3.4-6]")
    if (content_type is None and payload_format_indicator is None
            and message_expiry_interval is None and response_topic is None
            and correlation_data is None and not user_properties):
        return base
    d = dict(base) if base else {}
    if content_type is not None:
        d[_CONTENT_TYPE] = content_type
    if payload_format_indicator is not None:
        d[_PAYLOAD_FORMAT] = payload_format_indicator
    if message_expiry_interval is not None:
        d[_EXPIRY] = message_expiry_interval
    if response_topic is not None:
        d[_RESPONSE_TOPIC] = response_topic
    if correlation_data is not None:
        d[_CORRELATION] = correlation_data
    if user_properties:
        d[_USER_PROPERTY] = list(user_properties)
    return d


class Will:
    """The Will Message the broker publishes when the connection dies without a
    DISCONNECT (or with reason code 4): Will(topic, payload=b"", qos=0,
    retain=False, delay=None, content_type=None, payload_format_indicator=None,
    message_expiry_interval=None, response_topic=None, correlation_data=None,
    user_properties=None, props=None).

    `delay` is the Will Delay Interval in seconds; the broker waits that long
    (at most until the session expires: set Client(session_expiry=...) >= delay).
    """

    def __init__(self, topic, payload=b"", qos=0, retain=False, delay=None,
                 content_type=None, payload_format_indicator=None,
                 message_expiry_interval=None, response_topic=None,
                 correlation_data=None, user_properties=None, props=None):
        payload = payload_bytes(payload)
        props = app_props(props, content_type, payload_format_indicator,
                          message_expiry_interval, response_topic, correlation_data,
                          user_properties)
        check_text(payload, props)
        if delay:
            props = dict(props) if props else {}
            props[_WILL_DELAY] = delay
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.props = props
