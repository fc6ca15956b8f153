#!/usr/bin/python3
"""Check the ONNX models made by make_models.py.

    /usr/bin/python3 models/check_models.py [DIR]

For every *.onnx in DIR (default: this script's directory) and DIR/bench/:
run onnx.checker, print opset, inputs/outputs and the operator types used.
For the digits models, additionally run the ONNX graph with a tiny numpy
reference evaluator (independent of torch) and compare with the stored
torch logits (digits_expected_*.npy). Exits non-zero on any failure.
Needs python3-onnx and python3-numpy (Debian packages).
"""

import glob
import math
import os
import sys
from collections import Counter

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    g = a.get("group", 1)
    assert cg * g == c
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    sh, sw = a.get("strides", [1, 1])
    assert a.get("dilations", [1, 1]) == [1, 1]
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))).reshape(n, g, cg, h + pt + pb, -1)
    wg = w.reshape(g, m // g, cg, kh, kw)
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    y = np.zeros((n, g, m // g, oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
            y += np.einsum("ngchw,gmc->ngmhw", patch, wg[:, :, :, i, j])
    y = y.reshape(n, m, oh, ow)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def _maxpool(x, a):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    assert not a.get("ceil_mode", 0)
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.full((n, c, oh, ow), -np.inf)
    for i in range(kh):
        for j in range(kw):
            y = np.maximum(y, x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw])
    return y


_erf = np.vectorize(math.erf)


def _float(t):
    return t.astype(np.float64) if t.dtype.kind == "f" else t


def run_reference(model, feeds):
    """Evaluate the subset of ONNX that these models use, in float64 numpy
    (slow but simple; independent of torch)."""
    env = {k: _float(v) for k, v in feeds.items()}
    for init in model.graph.initializer:
        env[init.name] = _float(numpy_helper.to_array(init))
    for node in model.graph.node:
        a = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = np.matmul(ins[0], ins[1])
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Div":
            y = ins[0] / ins[1]
        elif op == "Erf":
            y = _erf(ins[0])
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
            y = np.clip(ins[0], lo, hi)
        elif op == "Conv":
            y = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "BatchNormalization":
            x, s, b, mean, var = ins
            sh = (1, -1) + (1,) * (x.ndim - 2)
            y = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + a.get("epsilon", 1e-5))
            y = y * s.reshape(sh) + b.reshape(sh)
        elif op == "LayerNormalization":
            ax = a.get("axis", -1)
            axes = tuple(range(ax % ins[0].ndim, ins[0].ndim))
            mu = ins[0].mean(axis=axes, keepdims=True)
            var = ((ins[0] - mu) ** 2).mean(axis=axes, keepdims=True)
            y = (ins[0] - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * ins[1]
            if len(ins) > 2 and ins[2] is not None:
                y = y + ins[2]
        elif op == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        elif op == "MaxPool":
            y = _maxpool(ins[0], a)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=tuple(range(2, ins[0].ndim)), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Reshape":
            shape = [int(d) for d in ins[1]]
            shape = [ins[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
            y = ins[0].reshape(shape)
        elif op == "Transpose":
            y = np.transpose(ins[0], a.get("perm"))
        elif op == "Gather":
            y = np.take(ins[0], ins[1], axis=a.get("axis", 0))
        elif op == "Identity":
            y = ins[0]
        elif op == "Constant":
            y = _float(numpy_helper.to_array(a["value"]))
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = y
    return [env[o.name] for o in model.graph.output]


def compare(m, feeds, expected):
    (out,) = run_reference(m, feeds)
    err = float(np.abs(out - expected).max())
    rel = err / max(float(np.abs(expected).max()), 1e-30)
    return out, err, rel


def describe_value(v):
    t = v.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in t.shape.dim]
    return f"{v.name} {onnx.TensorProto.DataType.Name(t.elem_type)} {dims}"


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else HERE
    paths = sorted(glob.glob(os.path.join(d, "*.onnx"))) + \
        sorted(glob.glob(os.path.join(d, "bench", "*.onnx")))
    if not paths:
        print(f"no .onnx files under {d}")
        return 1
    ok = True
    for p in paths:
        m = onnx.load(p)
        onnx.checker.check_model(m, full_check=True)
        ops = Counter(n.op_type for n in m.graph.node)
        opset = ",".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in m.opset_import)
        print(f"{os.path.relpath(p, d)}: {os.path.getsize(p)} bytes, ir_version {m.ir_version}, opset {opset}")
        init_names = {i.name for i in m.graph.initializer}
        for v in m.graph.input:
            if v.name not in init_names:
                print(f"  input  {describe_value(v)}")
        for v in m.graph.output:
            print(f"  output {describe_value(v)}")
        print(f"  {len(m.graph.node)} nodes, {len(m.graph.initializer)} initializers; ops: "
              + ", ".join(f"{k}x{v}" for k, v in sorted(ops.items())))

        base = os.path.basename(p)
        if base in ("digits_mlp.onnx", "digits_cnn.onnx"):
            kind = base[len("digits_"):-len(".onnx")]
            x = np.load(os.path.join(d, "digits_test_x.npy" if kind == "mlp"
                                     else "digits_test_x_img.npy"))
            y = np.load(os.path.join(d, "digits_test_y.npy"))
            exp = np.load(os.path.join(d, f"digits_expected_{kind}.npy"))
            out, err, _ = compare(m, {"input": x}, exp)
            acc = float((out.argmax(1) == y).mean())
            same = bool((out.argmax(1) == exp.argmax(1)).all())
            good = err < 1e-4 and same
            ok &= good
            print(f"  numpy reference vs torch logits: max abs err {err:.2e}, "
                  f"argmax identical {same}, accuracy {acc:.4f} -> {'OK' if good else 'FAIL'}")
        elif os.path.exists(p[:-len(".onnx")] + "_expected.npy"):
            x = np.load(p[:-len(".onnx")] + "_input.npy")
            exp = np.load(p[:-len(".onnx")] + "_expected.npy")
            name = [v.name for v in m.graph.input if v.name not in init_names][0]
            _, err, rel = compare(m, {name: x}, exp)
            good = rel < 1e-4
            ok &= good
            print(f"  numpy reference vs torch output: max abs err {err:.2e} "
                  f"(relative to max |out| {rel:.2e}) -> {'OK' if good else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
