"""UNSUBSCRIBE (spec 3.10) and UNSUBACK (3.11): the classes, loaded by the first
unsubscribe (a node that never unsubscribes keeps neither).  They are SUBSCRIBE's and
SUBACK's with another packet type (their encoder and decoder: mqtt5.subcodec)."""
from mqtt5.packets.subscribe import Subscribe, Suback

_UNSUBSCRIBE = const(10)
_UNSUBACK = const(11)


class Unsubscribe(Subscribe):
    """UNSUBSCRIBE: ``Unsubscribe(packet_id, topics, props=None)``; topics a
    list of filter strs."""
    type = _UNSUBSCRIBE


class Unsuback(Suback):
    """UNSUBACK: ``Unsuback(packet_id, reason_codes, props=None)``."""
    type = _UNSUBACK
