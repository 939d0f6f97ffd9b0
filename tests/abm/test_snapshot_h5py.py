#!/usr/bin/env python3
"""Reads back, with h5py, the snapshots tests/abm/snapshot_writer.cpp writes (docs/abm.md,
"Snapshot layout"): every attribute and value of the layout, then the XDMF sidecar parsed as XML
with every HDF DataItem resolved through h5py (file and path exist, shape and type match the
declared Dimensions/NumberType/Precision), then the PNG's size and stated scale.

usage: test_snapshot_h5py.py WRITER OUT_DIR
"""
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

import h5py
import numpy as np

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def main():
    writer, out = sys.argv[1], sys.argv[2]
    subprocess.run([writer, out], check=True)
    nx, ny, nz = 5, 4, 3
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    for step in (0, 1):
        with h5py.File(os.path.join(out, f"snap_{step}.h5"), "r") as f:
            check(f.attrs["time"] == 30.0 * step, f"step {step}: /time attribute {f.attrs['time']}")
            check(f.attrs["step"] == 300 * step, f"step {step}: /step attribute {f.attrs['step']}")
            check(f.attrs["time_unit"] in (b"min", "min"), "time_unit")
            g = f["grid"].attrs
            check((g["nx"], g["ny"], g["nz"], g["voxel_um"]) == (nx, ny, nz, 20.0), f"grid attributes {dict(g)}")
            o2 = f["fields/O2"]
            check(o2.shape == (nz, ny, nx) and o2.dtype == np.float64, f"O2 shape {o2.shape} {o2.dtype}")
            check(np.array_equal(o2[...], (step + 1) * (100.0 * z + 10.0 * y + x + 0.25)), "O2 values")
            check(o2.attrs["unit"] in (b"mmHg", "mmHg"), f"O2 unit {o2.attrs['unit']}")
            tgf = f["fields/TGF-β"]
            check(np.array_equal(tgf[...], x * y * z / 7.0), "TGF-β values")
            a = f["agents"]
            n = 7
            i = np.arange(n)
            check(a.attrs["count"] == n, "agent count")
            check(list(a.attrs["kind_names"]) == ["tumour", "NK", "CAF"], f"kind names {list(a.attrs['kind_names'])}")
            check(list(a["kind"].attrs["kind_names"]) == ["tumour", "NK", "CAF"], "kind names on /agents/kind")
            check(a["id"].dtype == np.int64 and np.array_equal(a["id"][...], 1000 + i), "ids")
            check(np.array_equal(a["x"][...], i % nx) and np.array_equal(a["y"][...], i % ny) and np.array_equal(a["z"][...], i % nz), "voxels")
            check(np.array_equal(a["kind"][...], i % 3), "kinds")
            check(np.array_equal(a["clone"][...], np.where(i == 0, -1, i % 2)), "clones")
            check(np.array_equal(a["granules"][...], i / 2.0), "extra column")
            pos = a["position"][...]
            check(pos.shape == (n, 3) and np.array_equal(pos, 20.0 * (np.stack([i % nx, i % ny, i % nz], axis=1) + 0.5)), "positions")

    # XDMF: structure, then every HDF DataItem resolved.
    root = ET.parse(os.path.join(out, "series.xdmf")).getroot()
    check(root.tag == "Xdmf" and root.get("Version") == "3.0", "Xdmf root and version")
    series = root.find("Domain/Grid")
    check(series.get("GridType") == "Collection" and series.get("CollectionType") == "Temporal", "temporal collection")
    steps = series.findall("Grid")
    check([s.find("Time").get("Value") for s in steps] == ["0", "30"], "times")
    items = 0
    for s in steps:
        fields = s.find("Grid[@Name='fields']")
        topo = fields.find("Topology")
        check(topo.get("TopologyType") == "3DCoRectMesh" and topo.get("Dimensions") == f"{nz + 1} {ny + 1} {nx + 1}", "mesh")
        check(fields.find("Geometry").get("GeometryType") == "ORIGIN_DXDYDZ", "geometry type")
        check([a.get("Name") for a in fields.findall("Attribute")] == ["O2", "TGF-β"], "field attributes")
        for a in fields.findall("Attribute"):
            check(a.get("Center") == "Cell", "cell-centred")
        agents = s.find("Grid[@Name='agents']")
        check(agents.find("Topology").get("TopologyType") == "Polyvertex" and agents.find("Topology").get("NumberOfElements") == "7", "polyvertex")
        for item in s.iter("DataItem"):
            if item.get("Format") != "HDF":
                continue
            items += 1
            fname, path = item.text.strip().split(":", 1)
            check(not os.path.isabs(fname), f"relative HDF path {fname}")
            with h5py.File(os.path.join(out, fname), "r") as f:
                check(path in f, f"{fname}:{path} exists")
                if path not in f:
                    continue
                ds = f[path]
                dims = tuple(int(d) for d in item.get("Dimensions").split())
                check(ds.shape == dims, f"{fname}:{path} shape {ds.shape} vs {dims}")
                kind = {"Float": "f", "Int": "i"}[item.get("NumberType")]
                check(ds.dtype.kind == kind and ds.dtype.itemsize == int(item.get("Precision")), f"{fname}:{path} type {ds.dtype}")
    check(items == 2 * (2 + 1 + 4), f"{items} HDF data items")

    # PNG: signature, IHDR size, tEXt scale, CRCs.
    data = open(os.path.join(out, "section.png"), "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature")
    at, texts, size = 8, {}, None
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        ctype, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        check(zlib.crc32(ctype + body) == crc, f"CRC of {ctype}")
        if ctype == b"IHDR":
            size = struct.unpack(">II", body[:8])
        if ctype == b"tEXt":
            key, value = body.split(b"\0", 1)
            texts[key.decode()] = value.decode("latin-1")
        at += 12 + length
    px = min(8, 600 // max(nx, ny))
    check(size is not None and size[1] == ny * px, f"PNG size {size}")
    check(texts.get("nkscape:field") == "O2" and texts.get("nkscape:unit") == "mmHg", f"tEXt {texts}")
    check(texts.get("nkscape:scale") == f"0 {2 * (100.0 * 1 + 10.0 * 3 + 4 + 0.25):g}", f"scale {texts.get('nkscape:scale')}")
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    print("snapshot read back: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
