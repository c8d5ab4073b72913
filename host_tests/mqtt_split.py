"""Split a captured MQTT byte stream into control packets (the fault proxy's drop()
filter and packet capture, and the tests that read a capture)."""


def split_mqtt(data):
    """Split a byte stream into MQTT control packets: [(type 1..15, bytes)]."""
    out = []
    i = 0
    n = len(data)
    while i < n:
        j = i + 1
        length = 0
        shift = 0
        while True:
            if j >= n:
                return out
            b = data[j]
            j += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift > 21:
                raise ValueError("malformed remaining length at offset %d" % i)
        end = j + length
        if end > n:
            return out
        out.append((data[i] >> 4, data[i:end]))
        i = end
    return out
