"""Golden safetensors interop files for tests/test_safetensors.cpp.

Debian's Python has no `safetensors` package, so this script writes the format by hand
with struct.pack, following the specification (https://github.com/huggingface/safetensors):

    8 bytes   N, little-endian uint64
    N bytes   JSON header {"__metadata__": {...}, name: {"dtype", "shape", "data_offsets"}}
    ...       tensor data, row-major, little-endian

Python -> C++:  writes python_written.safetensors (every dtype seqlm reads, a 0-D, 1-D, 2-D
                and 3-D tensor, an empty one, data in an order different from the header's,
                non-ASCII metadata). The C++ test checks every value.
C++ -> Python:  reads seqlm_written.safetensors (written by the C++ test "write the C++
                golden file" and committed) with a small NumPy reader and checks its values,
                so a format change on either side shows up. Run this script after the C++
                test has (re)written that file.

Run:  /usr/bin/python3 tests/golden/make_safetensors.py
"""
import json
import os
import struct
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}


def write_safetensors(path, tensors, metadata, data_order=None):
    """tensors: dict name -> (dtype, numpy array). Data laid out in data_order (default: header order)."""
    order = data_order or list(tensors)
    offsets, blobs, position = {}, [], 0
    for name in order:
        dtype, array = tensors[name]
        blob = np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()
        offsets[name] = [position, position + len(blob)]
        blobs.append(blob)
        position += len(blob)
    header = {"__metadata__": metadata}
    for name, (dtype, array) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(np.shape(array)), "data_offsets": offsets[name]}
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def read_safetensors(path):
    """A minimal NumPy reader: returns (tensors as arrays, metadata, data section bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors, metadata, data


def make_python_file():
    tensors = {
        "weights/f32": ("F32", np.array([[1.5, -2.25, 3.0], [0.125, 1e-3, -7.0]], dtype=np.float32)),
        "weights/f64": ("F64", np.array([np.pi, -np.e, 1e300, -0.0], dtype=np.float64)),
        "ids/i32": ("I32", np.array([[0, -1], [2147483647, -2147483648]], dtype=np.int32)),
        "counts/i64": ("I64", np.array([9007199254740993, -5], dtype=np.int64)),
        "bytes/u8": ("U8", np.array([0, 7, 255], dtype=np.uint8)),
        "scalar": ("F64", np.array(42.5, dtype=np.float64)),
        "cube": ("F32", np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
        "empty": ("F32", np.zeros((0, 3), dtype=np.float32)),
    }
    metadata = {"format": "pt", "note": "written by make_safetensors.py", "unicode": "caf\u00e9 \u2713"}
    order = list(reversed(list(tensors)))  # data order differs from header order
    path = os.path.join(HERE, "python_written.safetensors")
    write_safetensors(path, tensors, metadata, data_order=order)
    # Check our own writer with our reader.
    back, meta, _ = read_safetensors(path)
    assert meta == metadata
    for name, (dtype, array) in tensors.items():
        assert np.array_equal(back[name], array), name
    print("wrote", path, os.path.getsize(path), "bytes")


def check_seqlm_file():
    path = os.path.join(HERE, "seqlm_written.safetensors")
    if not os.path.exists(path):
        print("skipped", path, "(run the C++ test first)")
        return
    tensors, metadata, data = read_safetensors(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
    assert (8 + n) % 8 == 0, "header must be padded to a multiple of 8"
    assert metadata == {"producer": "seqlm test", "crc32": "%08x" % zlib.crc32(data)}, metadata
    # The (2 x 3) column-major matrix [[1, 2, 3], [4, 5, 6]] is stored with shape [3, 2]: its transpose.
    assert tensors["matrix"].dtype == np.float32
    assert np.array_equal(tensors["matrix"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32).T)
    assert tensors["bias"].shape == (3,) and np.array_equal(tensors["bias"], [0.5, -0.5, 0.25])
    assert tensors["double"].dtype == np.float64
    assert np.array_equal(tensors["double"], np.array([[0, 0.1], [0.2, 0.3]]).T)
    assert np.array_equal(tensors["ids"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))
    assert np.array_equal(tensors["big"], np.array([-(2**62), 2**62 + 1], dtype=np.int64))
    assert np.array_equal(tensors["bytes"], np.array([255, 0, 128], dtype=np.uint8))
    print("checked", path)


if __name__ == "__main__":
    make_python_file()
    check_seqlm_file()
