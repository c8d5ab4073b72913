"""The public names of the library's constants, as "NAME=value" tables.

mqtt5.packets, mqtt5.properties and mqtt5.session resolve these names on first use
(their module ``__getattr__``), so a node that never asks for one loads neither the
names nor this module: as ``.mpy`` the tables would otherwise take about 1 KB of heap.
The library itself uses private ``const()`` copies; host_tests check that both agree.
"""

# mqtt5.packets: the control packet types (spec 2.1.2)
PACKETS = ("CONNECT=1 CONNACK=2 PUBLISH=3 PUBACK=4 PUBREC=5 PUBREL=6 PUBCOMP=7 "
           "SUBSCRIBE=8 SUBACK=9 UNSUBSCRIBE=10 UNSUBACK=11 PINGREQ=12 PINGRESP=13 "
           "DISCONNECT=14 AUTH=15")

# mqtt5.properties: the property identifiers (Table 2-4), WILL (the Will Properties'
# pseudo packet type) and the wire types (spec 2.2.2.2)
PROPERTIES = (
    "PAYLOAD_FORMAT_INDICATOR=0x01 MESSAGE_EXPIRY_INTERVAL=0x02 "
    "CONTENT_TYPE=0x03 RESPONSE_TOPIC=0x08 CORRELATION_DATA=0x09 "
    "SUBSCRIPTION_IDENTIFIER=0x0B SESSION_EXPIRY_INTERVAL=0x11 "
    "ASSIGNED_CLIENT_IDENTIFIER=0x12 SERVER_KEEP_ALIVE=0x13 "
    "AUTHENTICATION_METHOD=0x15 AUTHENTICATION_DATA=0x16 "
    "REQUEST_PROBLEM_INFORMATION=0x17 WILL_DELAY_INTERVAL=0x18 "
    "REQUEST_RESPONSE_INFORMATION=0x19 RESPONSE_INFORMATION=0x1A "
    "SERVER_REFERENCE=0x1C REASON_STRING=0x1F RECEIVE_MAXIMUM=0x21 "
    "TOPIC_ALIAS_MAXIMUM=0x22 TOPIC_ALIAS=0x23 MAXIMUM_QOS=0x24 "
    "RETAIN_AVAILABLE=0x25 USER_PROPERTY=0x26 MAXIMUM_PACKET_SIZE=0x27 "
    "WILDCARD_SUBSCRIPTION_AVAILABLE=0x28 SUBSCRIPTION_IDENTIFIER_AVAILABLE=0x29 "
    "SHARED_SUBSCRIPTION_AVAILABLE=0x2A WILL=0 BYTE=1 U16=2 U32=3 VBI=4 STRING=5 "
    "BINARY=6 PAIR=7")

# mqtt5.session: the event kinds and session states (see mqtt5.events), and
# subscribe()'s options [MQTT-3.8.3.1] (retain handling 0 always, 1 if new, 2 never)
SESSION = ("CONNECTED=1 MESSAGE=2 PUBLISH_DONE=3 SUBSCRIBED=4 UNSUBSCRIBED=5 "
           "DISCONNECTED=6 LINK_DEAD=7 ERROR=8 REAUTHENTICATED=9 CLOSED=0 CONNECTING=1 "
           "ESTABLISHED=2 NO_LOCAL=0x04 RETAIN_AS_PUBLISHED=0x08 RETAIN_HANDLING_SHIFT=4")
