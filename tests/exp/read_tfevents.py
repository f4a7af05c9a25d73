#!/usr/bin/env python3
"""Independent reader of TensorBoard event files for the tests (no tensorflow/tensorboard/protobuf needed).

Usage: read_tfevents.py FILE...  → one JSON object per event on stdout:
  {"wall_time": float, "step": int, "file_version": str?, "scalars": {tag: float}?, "session_start": bool?}
Checks the record framing: uint64 length, masked CRC-32C of the length, data, masked CRC-32C of the data
(TensorFlow's record_writer.cc); exits 1 naming the record on any mismatch. CRC-32C is computed here bit by
bit from the polynomial (reflected 0x82F63B78), independently of the C++ table implementation.
"""
import json
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def fields(buf):
    """Yield (field_number, wire_type, value) of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield field, wire, v


def event(buf):
    e = {"wall_time": None, "step": 0}
    for f, w, v in fields(buf):
        if f == 1 and w == 1:
            e["wall_time"] = struct.unpack("<d", v)[0]
        elif f == 2 and w == 0:
            e["step"] = v if v < 1 << 63 else v - (1 << 64)
        elif f == 3 and w == 2:
            e["file_version"] = v.decode()
        elif f == 5 and w == 2:
            scalars = {}
            for vf, vw, value in fields(v):
                assert vf == 1 and vw == 2, "Summary.value"
                tag, x = None, None
                for sf, sw, sv in fields(value):
                    if sf == 1:
                        tag = sv.decode()
                    elif sf == 2 and sw == 5:
                        x = struct.unpack("<f", sv)[0]
                scalars[tag] = x
            e["scalars"] = scalars
        elif f == 6 and w == 2:
            e["session_start"] = any(sf == 1 and sv == 1 for sf, _, sv in fields(v))
    return e


def main(paths):
    for path in paths:
        data = open(path, "rb").read()
        i, k = 0, 0
        while i < len(data):
            if i + 12 > len(data):
                print("truncated header in record %d of %s" % (k, path), file=sys.stderr)
                return 1
            header = data[i:i + 8]
            (n,) = struct.unpack("<Q", header)
            (hcrc,) = struct.unpack("<I", data[i + 8:i + 12])
            if hcrc != masked(header):
                print("bad length CRC in record %d of %s" % (k, path), file=sys.stderr)
                return 1
            body = data[i + 12:i + 12 + n]
            (dcrc,) = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
            if len(body) != n or dcrc != masked(body):
                print("bad data CRC in record %d of %s" % (k, path), file=sys.stderr)
                return 1
            print(json.dumps(event(body)))
            i += 16 + n
            k += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
