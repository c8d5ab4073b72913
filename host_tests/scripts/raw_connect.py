# Harness smoke test: a hand-written MQTT v5 CONNECT / CONNACK / DISCONNECT over a
# plain TCP socket. Runs unchanged on CPython and MicroPython; no library code.
# usage: raw_connect.py PORT CLIENT_ID
import json
import socket
import sys

port = int(sys.argv[1])
client_id = sys.argv[2].encode()

# CONNECT [MQTT-3.1]: variable header = protocol name "MQTT" (00 04 'MQTT'),
# version 5, connect flags 0x02 (Clean Start), keep alive 60 (00 3c),
# properties length 0; payload = client id as a UTF-8 string (length-prefixed).
var_header = b"\x00\x04MQTT\x05\x02\x00\x3c\x00"
payload = bytes([len(client_id) >> 8, len(client_id) & 0xFF]) + client_id
body = var_header + payload
assert len(body) < 128  # remaining length fits one VBI byte
connect = bytes([0x10, len(body)]) + body

addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
s = socket.socket()
s.connect(addr)
s.send(connect)


def recv_exact(n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed after %d bytes" % len(data))
        data += chunk
    return data


head = recv_exact(2)
rest = recv_exact(head[1])       # CONNACK remaining length is < 128 here
# CONNACK [MQTT-3.2]: acknowledge flags, reason code, properties (length + data)
print(json.dumps({
    "packet_type": head[0] >> 4,
    "session_present": rest[0] & 1,
    "reason_code": rest[1],
    "properties_length": rest[2],
}))
s.send(b"\xe0\x00")               # DISCONNECT, normal disconnection (short form)
s.close()
