#!/usr/bin/python3
"""Request bodies for bench/serve.sh (KServe v2 / Open Inference Protocol).

  serve_bodies.py digits ROWS_JSON OUT.json
      1-row JSON body: the first row of ROWS_JSON (models/digits_mlp.json, 2 rows).
  serve_bodies.py digits-template ROWS_JSON OUT.json
      the same 1-row body with its first value replaced by the placeholder @X@ (kserve.lua's VARY).
  serve_bodies.py image INPUT_NAME IN.npy OUT_DIR
      OUT_DIR/image.json: the tensor as a JSON data array (%.6g per value);
      OUT_DIR/image.bin: binary tensor extension body: JSON header then the raw little-endian FP32
      bytes, with parameters.binary_data_size on the input and binary_data_output true;
      prints the header's length (the Inference-Header-Content-Length value) on stdout.
"""
import json
import sys

import numpy as np


def digits(src, out):
    req = json.load(open(src))
    inp = req["inputs"][0]
    cols = inp["shape"][1]
    one = {"inputs": [dict(inp, shape=[1, cols], data=inp["data"][:cols])]}
    open(out, "w").write(json.dumps(one, separators=(",", ":")))


def digits_template(src, out):
    req = json.load(open(src))
    inp = req["inputs"][0]
    cols = inp["shape"][1]
    data = inp["data"][:cols]
    one = {"inputs": [dict(inp, shape=[1, cols], data=["@X@"] + data[1:])]}
    open(out, "w").write(json.dumps(one, separators=(",", ":")).replace('"@X@"', "@X@"))


def image(name, npy, out_dir):
    a = np.ascontiguousarray(np.load(npy), dtype="<f4")
    shape = list(a.shape)
    body = {"inputs": [{"name": name, "shape": shape, "datatype": "FP32",
                        "data": None}]}
    text = ",".join("%.6g" % v for v in a.ravel().tolist())
    js = json.dumps(body, separators=(",", ":")).replace("null", "[" + text + "]")
    open(out_dir + "/image.json", "w").write(js)
    raw = a.tobytes()
    hdr = {"inputs": [{"name": name, "shape": shape, "datatype": "FP32",
                       "parameters": {"binary_data_size": len(raw)}}],
           "parameters": {"binary_data_output": True}}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    open(out_dir + "/image.bin", "wb").write(h + raw)
    print(len(h))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "digits":
        digits(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "digits-template":
        digits_template(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "image":
        image(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
