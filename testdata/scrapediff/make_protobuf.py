#!/usr/bin/env python3
"""Writes protobuf.pb: delimited io.prometheus.client.MetricFamily messages, encoded by hand.

Run from this directory: python3 make_protobuf.py. The families: a counter with a created
timestamp, a gauge with labels, a summary, a histogram with classic buckets and native
(schema 0) buckets, a native-only histogram, and a gauge histogram.
"""
import struct


def varint(n):
    out = b""
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def key(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, n):
    return key(field, 0) + varint(n)


def f_sint(field, n):
    return key(field, 0) + varint(zigzag(n))


def f_double(field, x):
    return key(field, 1) + struct.pack("<d", x)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return key(field, 2) + varint(len(b)) + b


def label(name, value):
    return f_bytes(1, f_bytes(1, name) + f_bytes(2, value))


def timestamp(seconds, nanos=0):
    return f_varint(1, seconds) + (f_varint(2, nanos) if nanos else b"")


def family(name, help_, typ, metrics, unit=""):
    body = f_bytes(1, name) + f_bytes(2, help_) + f_varint(3, typ)
    for m in metrics:
        body += f_bytes(4, m)
    if unit:
        body += f_bytes(5, unit)
    return varint(len(body)) + body


COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM = range(6)


def bucket(cum, upper):
    return f_bytes(3, f_varint(1, cum) + f_double(2, upper))


def span(offset, length):
    return f_sint(1, offset) + f_varint(2, length)


def native(schema, zero_threshold, zero_count, spans, deltas):
    out = f_sint(5, schema) + f_double(6, zero_threshold) + f_varint(7, zero_count)
    for s in spans:
        out += f_bytes(12, span(*s))
    for d in deltas:
        out += f_sint(13, d)
    return out


out = b""
out += family("pb_requests_total", "Requests served.", COUNTER, [
    label("code", "200") + f_bytes(3, f_double(1, 1027) + f_bytes(3, timestamp(1700000000, 500_000_000))),
    label("code", "500") + f_bytes(3, f_double(1, 3)),
])
out += family("pb_temperature", "A gauge with \"quotes\" and \\ backslash.", GAUGE, [
    label("room", "a") + f_bytes(2, f_double(1, 21.5)),
    label("room", "b") + f_bytes(2, f_double(1, float("nan"))),
    label("room", "c") + f_bytes(2, f_double(1, float("-inf"))),
])
out += family("pb_rpc_seconds", "A summary.", SUMMARY, [
    f_bytes(4, f_varint(1, 10) + f_double(2, 4.5)
            + f_bytes(3, f_double(1, 0.5) + f_double(2, 0.3))
            + f_bytes(3, f_double(1, 0.99) + f_double(2, 1.2))),
])
# Classic buckets and native buckets in one histogram: 10 observations.
out += family("pb_latency_seconds", "A histogram, classic and native.", HISTOGRAM, [
    label("path", "/") + f_bytes(7, f_varint(1, 10) + f_double(2, 7.5)
                                 + bucket(2, 0.5) + bucket(7, 1) + bucket(9, 2)
                                 + native(0, 0.001, 1, [(0, 3)], [2, 1, -1])),
])
# Native buckets only (a single empty bucket span marks it native).
out += family("pb_native_only_seconds", "A native-only histogram.", HISTOGRAM, [
    f_bytes(7, f_varint(1, 4) + f_double(2, 3.0) + native(1, 0, 0, [(1, 2)], [1, 2])),
])
out += family("pb_queue_size", "A gauge histogram.", GAUGE_HISTOGRAM, [
    f_bytes(7, f_varint(1, 5) + f_double(2, 12) + bucket(3, 1) + bucket(5, 10)),
])
out += family("pb_untyped", "", UNTYPED, [f_bytes(5, f_double(1, 42))])

with open("protobuf.pb", "wb") as f:
    f.write(out)
