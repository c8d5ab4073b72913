"""A JSON syntax check (RFC 8259) before MicroPython's json.loads, which is lenient:
it takes missing and extra commas, leading zeros, `1.`, raw control characters in
strings, and unknown escapes, whose backslash it drops ("fieldnode\\v1" becomes
"fieldnodev1"). A command whose payload only MicroPython reads must fail as it does
on CPython, not run with values nobody sent; so must a hand-edited config.json.
Two things valid JSON may hold are refused on both runtimes, as the runtimes read
them differently: a name given twice in an object (the parsers keep the last, so a
setting is lost without a word; "a" and "\\u0061" are one name), and a surrogate
written as a \\u escape (MicroPython reads a \\ud83d\\ude00 pair as CESU-8, not as the
one character: write such text as UTF-8).
Loaded by config.load() at boot and used again for command payloads.

    start = check(data)   # ValueError naming what and where (a byte offset); else
                          # where the JSON text starts: 3 after a UTF-8 BOM, else 0
"""

# commands take flat objects (set_config's sensors nest 3 deep): deeper is refused, as
# each level recurses (about 340 B of C stack on the 64-bit port; a board's is small)
_MAX_DEPTH = 8


def check(b):
    """ValueError unless the bytes `b` are one JSON text (a value, whitespace around),
    maybe after a UTF-8 byte order mark, which some editors write and a parser may
    skip (RFC 8259 8.1); returns where the text starts (3 after a BOM, else 0)."""
    start = 3 if b[:3] == b"\xef\xbb\xbf" else 0
    try:
        i = _ws(b, _value(b, _ws(b, start), 0))
    except IndexError:
        raise ValueError("ends too soon")
    except RuntimeError:  # recursion past the port's stack, however small it is
        raise ValueError("nested too deep")
    if i != len(b):
        raise ValueError("unexpected byte at %d" % i)
    return start


def _ws(b, i):
    n = len(b)
    while i < n and (b[i] == 32 or b[i] == 10 or b[i] == 13 or b[i] == 9):
        i += 1
    return i


def _bad(what, i):
    raise ValueError("%s at %d" % (what, i))


def _value(b, i, depth):
    # the index after the value starting at i
    c = b[i]
    if c == 0x7B or c == 0x5B:  # { [
        if depth == _MAX_DEPTH:
            _bad("nested over %d deep" % _MAX_DEPTH, i)
        close = c + 2  # } ]
        i = _ws(b, i + 1)
        if b[i] == close:
            return i + 1
        names = []
        while True:
            if c == 0x7B:  # "name": value
                if b[i] != 0x22:
                    _bad("expected a name", i)
                j = _string(b, i)
                name = b[i + 1:j - 1]  # (its UTF-8, between the quotes)
                if 0x5C in name:  # an escape: compared as the text it stands for
                    import json  # ("keepalive" and "keep\u0061live" are one name)

                    name = json.loads(b[i:j]).encode()
                if name in names:
                    _bad("name given twice", i)
                names.append(name)
                i = _ws(b, j)
                if b[i] != 0x3A:
                    _bad("expected ':'", i)
                i = _ws(b, i + 1)
            i = _ws(b, _value(b, i, depth + 1))
            if b[i] == close:
                return i + 1
            if b[i] != 0x2C:
                _bad("expected ',' or the end", i)
            i = _ws(b, i + 1)
    if c == 0x22:
        return _string(b, i)
    if c == 0x74 or c == 0x66 or c == 0x6E:  # t f n: only then a slice (numbers: none)
        for word in (b"true", b"false", b"null"):
            if b[i:i + len(word)] == word:
                return i + len(word)
        _bad("expected a value", i)
    return _number(b, i)


def _string(b, i):
    # b[i] is the opening quote
    i += 1
    while True:
        c = b[i]
        if c == 0x22:
            return i + 1
        if c < 0x20:
            _bad("control character in a string", i)
        if c == 0x5C:  # \
            i += 1
            c = b[i]
            if c == 0x75:  # \uXXXX
                for j in range(i + 1, i + 5):
                    h = b[j]
                    if not (0x30 <= h <= 0x39 or 0x61 <= h | 0x20 <= 0x66):
                        _bad("bad \\u escape", i - 1)
                if b[i + 1] | 0x20 == 0x64 and b[i + 2] >= 0x38:  # \uD800-\uDFFF
                    _bad("escaped surrogate (use UTF-8)", i - 1)
                i += 4
            elif c not in (0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74):  # " \ / b f n r t
                _bad("unknown escape", i - 1)
        i += 1


def _number(b, i):
    # -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    n = len(b)
    if b[i] == 0x2D:  # -
        i += 1
    i = i + 1 if b[i] == 0x30 else _digits(b, i)
    if i < n and b[i] == 0x2E:  # .
        i = _digits(b, i + 1)
    if i < n and b[i] | 0x20 == 0x65:  # e E
        i += 1
        if i < n and (b[i] == 0x2B or b[i] == 0x2D):
            i += 1
        i = _digits(b, i)
    return i


def _digits(b, i):
    j = i
    while j < len(b) and 0x30 <= b[j] <= 0x39:
        j += 1
    if j == i:
        _bad("expected a value", i)
    return j
