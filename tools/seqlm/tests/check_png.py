#!/usr/bin/env python3
"""Checks that a PNG (a browser's screenshot of a chart) is not blank: decodes it with zlib
alone (8-bit RGB or RGBA, any filter) and requires some share of pixels that are not white.

    check_png.py IMAGE.png [MIN_SHARE]     (default 0.01: 1% of the pixels)
"""
import struct
import sys
import zlib


def fail(message):
    print("check_png: %s: %s" % (sys.argv[1], message), file=sys.stderr)
    sys.exit(1)


data = open(sys.argv[1], "rb").read()
minimum = float(sys.argv[2]) if len(sys.argv) > 2 else 0.01
if data[:8] != b"\x89PNG\r\n\x1a\n":
    fail("not a PNG")
position, chunks, header = 8, b"", None
while position < len(data):
    length, kind = struct.unpack(">I4s", data[position:position + 8])
    body = data[position + 8:position + 8 + length]
    if kind == b"IHDR":
        header = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        chunks += body
    position += 12 + length
width, height, depth, color, _, _, interlace = header
if depth != 8 or color not in (2, 6) or interlace != 0:
    fail("only 8-bit RGB/RGBA non-interlaced PNGs are checked (depth %d, color type %d)" % (depth, color))
channels = 3 if color == 2 else 4
stride = width * channels
raw = zlib.decompress(chunks)
previous = bytearray(stride)
coloured = 0
for row in range(height):
    start = row * (stride + 1)
    kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
    for i in range(stride):
        left = line[i - channels] if i >= channels else 0
        up = previous[i]
        corner = previous[i - channels] if i >= channels else 0
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 2:
            line[i] = (line[i] + up) & 255
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 255
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
    for x in range(width):
        pixel = line[x * channels:x * channels + 3]
        if min(pixel) < 200:
            coloured += 1
    previous = line
share = coloured / float(width * height)
if share < minimum:
    fail("only %.4f of the pixels are not white (expected at least %.4f)" % (share, minimum))
print("check_png: %.1f%% of %dx%d pixels are drawn" % (100 * share, width, height))
