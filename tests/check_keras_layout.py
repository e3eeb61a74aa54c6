"""Compares .keras files written by seqlm::keras::save with real Keras 3 files, using only
Python's zipfile and json and Debian's h5py -- the libraries Keras 3's own loader reads them with.

    /usr/bin/python3 tests/check_keras_layout.py REAL.keras EXPORTED.keras [REAL2 EXPORTED2 ...]

For each pair (the exported file made by importing the real one and saving it again):
  * the archive has the same entries in the same order, all stored uncompressed;
  * metadata.json has the same keys; config.json is equal as JSON -- every key, every value and
    every value's Python type -- once each "shared_object_id" is renumbered by first appearance
    (its value is an object's address in the writing process; which objects share it must match);
  * model.weights.h5 holds the same groups and datasets at the same paths, each dataset with
    the same shape, dtype, storage (contiguous, uncompressed), attributes and values.
Prints what it compared; exits 1 with every difference listed otherwise.
"""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np


def renumber_shared_ids(value, ids=None):
    ids = {} if ids is None else ids
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "shared_object_id":
                out[key] = ids.setdefault(item, len(ids) + 1)
            else:
                out[key] = renumber_shared_ids(item, ids)
        return out
    if isinstance(value, list):
        return [renumber_shared_ids(item, ids) for item in value]
    return value


def typed_differences(a, b, path=""):
    """Every place where two JSON values differ, Python types included (1 vs 1.0)."""
    if type(a) is not type(b):
        return [f"{path or '/'}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})"]
    if isinstance(a, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in {'the real file' if key in a else 'the export'}")
            else:
                out.extend(typed_differences(a[key], b[key], f"{path}/{key}"))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [d for k, (x, y) in enumerate(zip(a, b)) for d in typed_differences(x, y, f"{path}[{k}]")]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def h5_objects(data):
    """path -> description of every group and dataset of an HDF5 image."""
    objects = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        def visit(name, obj):
            attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                plist = obj.id.get_create_plist()
                objects[name] = ("dataset", obj.shape, str(obj.dtype), obj.chunks, obj.compression,
                                 plist.get_layout(), attrs, np.asarray(obj).tobytes())
            else:
                objects[name] = ("group", attrs)
        f.visititems(visit)
        objects["/"] = ("group", {k: np.asarray(v).tolist() for k, v in f.attrs.items()})
    return objects


def compare(real_path, exported_path):
    problems = []
    real, exported = zipfile.ZipFile(real_path), zipfile.ZipFile(exported_path)
    names = [i.filename for i in real.infolist()]
    if names != [i.filename for i in exported.infolist()]:
        problems.append(f"entries {names} vs {[i.filename for i in exported.infolist()]}")
    for info in exported.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            problems.append(f"{info.filename} is compressed (method {info.compress_type})")
    if exported.testzip() is not None:
        problems.append(f"CRC error in {exported.testzip()}")

    real_meta, exported_meta = (json.loads(z.read("metadata.json")) for z in (real, exported))
    if set(real_meta) != set(exported_meta):
        problems.append(f"metadata.json keys {sorted(real_meta)} vs {sorted(exported_meta)}")

    real_config, exported_config = (renumber_shared_ids(json.loads(z.read("config.json"))) for z in (real, exported))
    problems += ["config.json" + d for d in typed_differences(real_config, exported_config)]

    real_h5, exported_h5 = (h5_objects(z.read("model.weights.h5")) for z in (real, exported))
    for path in sorted(set(real_h5) | set(exported_h5)):
        if path not in real_h5 or path not in exported_h5:
            problems.append(f"model.weights.h5 {path}: only in {'the real file' if path in real_h5 else 'the export'}")
        elif real_h5[path] != exported_h5[path]:
            a, b = real_h5[path], exported_h5[path]
            fields = ["kind", "shape", "dtype", "chunks", "compression", "layout", "attributes", "values"]
            diff = [f"{f} {x!r} vs {y!r}" if f != "values" else "values differ"
                    for f, x, y in zip(fields, a, b) if x != y]
            problems.append(f"model.weights.h5 {path}: " + "; ".join(diff))
    datasets = sum(1 for v in exported_h5.values() if v[0] == "dataset")
    print(f"{exported_path} vs {real_path}: {len(names)} entries, config.json equal up to shared ids, "
          f"{len(exported_h5)} HDF5 objects ({datasets} datasets) with the same paths, shapes, dtypes, "
          f"storage and values" if not problems else f"{exported_path} vs {real_path}: {len(problems)} differences")
    return problems


def main():
    if len(sys.argv) < 3 or len(sys.argv) % 2 != 1:
        sys.exit(__doc__)
    missing = [path for path in sys.argv[1:] if not os.path.isfile(path)]
    if missing:
        print("skipped: " + ", ".join(missing) + " not found (the shared data, or the exports "
              "test_keras_integration writes from it)")
        sys.exit(77)  # ctest's SKIP_RETURN_CODE
    problems = []
    for real, exported in zip(sys.argv[1::2], sys.argv[2::2]):
        problems += compare(real, exported)
    for p in problems:
        print("  " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
