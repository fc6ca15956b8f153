#!/usr/bin/python3
"""Deterministically build the demo / test / benchmark ONNX models for frugal.

Usage (always with Debian's interpreter, which has python3-torch & co.):

    /usr/bin/python3 models/make_models.py [--bench] [--out DIR]

Without --bench this trains two tiny classifiers on scikit-learn's bundled
copy of the UCI hand-written digits data set (8x8 images, nothing is
downloaded) and writes into DIR (default: the directory of this script):

    digits_mlp.onnx            MLP 64-256-256-10, input "input" [batch,64]
    digits_cnn.onnx            small CNN with BatchNormalization,
                               input "input" [batch,1,8,8]
    digits_test_x.npy          held-out test images, float32 [N,64], pixels/16
    digits_test_x_img.npy      the same, float32 [N,1,8,8]
    digits_test_y.npy          test labels, int64 [N]
    digits_expected_mlp.npy    torch logits of the MLP on the test set [N,10]
    digits_expected_cnn.npy    torch logits of the CNN on the test set [N,10]
    digits_mlp.json            KServe v2 request body for the first 2 test rows

With --bench it additionally writes randomly initialised (seeded, no weights
are downloaded) benchmark models into DIR/bench/ (git-ignored):

    resnet18.onnx              torchvision resnet18, "input" [batch,3,224,224]
    mobilenet_v2.onnx          torchvision mobilenet_v2, same input
    bert_mini.onnx             4-layer transformer encoder, "input_ids"
                               int64 [batch,128] -> "last_hidden_state"
                               [batch,128,256]
    <name>_input.npy,          batch-1 example input and the torch output
    <name>_expected.npy        for it, for each of the three

Everything is seeded, single-threaded and uses deterministic algorithms so
that repeated runs on the same machine produce byte-identical files.
"""

import argparse
import json
import math
import os
import random
import sys

import numpy as np
import torch
import torch.nn as nn

SEED = 20240607
HERE = os.path.dirname(os.path.abspath(__file__))


def set_determinism(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------
# digits models
# --------------------------------------------------------------------------

class DigitsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, 10),
        )

    def forward(self, x):
        return self.net(x)


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.features(x)))


def load_digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y)
    return (np.ascontiguousarray(x_tr), np.ascontiguousarray(x_te),
            np.ascontiguousarray(y_tr), np.ascontiguousarray(y_te))


def train(model, x, y, epochs, lr, batch=32, seed=SEED):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    n = xt.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    return model


def export(model, example, path, input_names, output_names, opset,
           training=torch.onnx.TrainingMode.EVAL, constant_folding=True):
    dyn = {n: {0: "batch"} for n in list(input_names) + list(output_names)}
    model.eval()
    with torch.no_grad():
        torch.onnx.export(
            model, (example,), path,
            input_names=list(input_names), output_names=list(output_names),
            dynamic_axes=dyn, opset_version=opset,
            training=training, do_constant_folding=constant_folding,
            export_params=True, verbose=False)


def make_digits(out):
    os.makedirs(out, exist_ok=True)
    x_tr, x_te, y_tr, y_te = load_digits_split()
    x_te_img = x_te.reshape(-1, 1, 8, 8)

    # MLP
    set_determinism(SEED)
    mlp = train(DigitsMLP(), x_tr, y_tr, epochs=40, lr=1e-3)
    with torch.no_grad():
        logits_mlp = mlp(torch.from_numpy(x_te)).numpy().astype(np.float32)
    acc_mlp = float((logits_mlp.argmax(1) == y_te).mean())
    export(mlp, torch.from_numpy(x_te[:2]), os.path.join(out, "digits_mlp.onnx"),
           ["input"], ["logits"], opset=13)

    # CNN. TrainingMode.EVAL would let the exporter's eval peephole fuse
    # Conv+BatchNorm into one Conv; PRESERVE (with the model in eval mode)
    # exports an inference-mode graph but keeps BatchNormalization nodes, so
    # the engine gets a model that exercises that operator.
    set_determinism(SEED + 1)
    cnn = train(DigitsCNN(), x_tr.reshape(-1, 1, 8, 8), y_tr, epochs=40, lr=1e-3)
    with torch.no_grad():
        logits_cnn = cnn(torch.from_numpy(x_te_img)).numpy().astype(np.float32)
    acc_cnn = float((logits_cnn.argmax(1) == y_te).mean())
    export(cnn, torch.from_numpy(x_te_img[:2]), os.path.join(out, "digits_cnn.onnx"),
           ["input"], ["logits"], opset=13,
           training=torch.onnx.TrainingMode.PRESERVE, constant_folding=False)

    np.save(os.path.join(out, "digits_test_x.npy"), x_te)
    np.save(os.path.join(out, "digits_test_x_img.npy"), np.ascontiguousarray(x_te_img))
    np.save(os.path.join(out, "digits_test_y.npy"), y_te)
    np.save(os.path.join(out, "digits_expected_mlp.npy"), logits_mlp)
    np.save(os.path.join(out, "digits_expected_cnn.npy"), logits_cnn)

    req = {"inputs": [{
        "name": "input",
        "shape": [2, 64],
        "datatype": "FP32",
        "data": [float(v) for v in x_te[:2].reshape(-1)],
    }]}
    with open(os.path.join(out, "digits_mlp.json"), "w") as f:
        json.dump(req, f, separators=(",", ":"))
        f.write("\n")

    print(f"digits: train={len(y_tr)} test={len(y_te)}")
    print(f"digits_mlp test accuracy: {acc_mlp:.4f} ({int(round(acc_mlp * len(y_te)))}/{len(y_te)})")
    print(f"digits_cnn test accuracy: {acc_cnn:.4f} ({int(round(acc_cnn * len(y_te)))}/{len(y_te)})")
    print(f"first 2 test labels (digits_mlp.json): {y_te[:2].tolist()}")


# --------------------------------------------------------------------------
# benchmark models
# --------------------------------------------------------------------------

class SelfAttention(nn.Module):
    """Multi-head self-attention written with plain MatMul/Softmax so that it
    exports to ONNX without torch's fused fast-path kernels (in torch 1.13
    nn.TransformerEncoderLayer in eval mode traces to
    aten::_transformer_encoder_layer_fwd, which has no ONNX export)."""

    def __init__(self, seq, d_model, heads):
        super().__init__()
        self.seq, self.d_model, self.heads = seq, d_model, heads
        self.head_dim = d_model // heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def _split(self, x):  # [B,S,D] -> [B,H,S,Dh]; batch stays dynamic (-1)
        return x.reshape(-1, self.seq, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x):
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        ctx = ctx.transpose(1, 2).reshape(-1, self.seq, self.d_model)
        return self.out(ctx)


class EncoderLayer(nn.Module):
    """Post-norm (BERT-style) transformer encoder layer, GELU feed-forward."""

    def __init__(self, seq, d_model, heads, ffn, eps):
        super().__init__()
        self.attn = SelfAttention(seq, d_model, heads)
        self.norm1 = nn.LayerNorm(d_model, eps=eps)
        self.ff1 = nn.Linear(d_model, ffn)
        self.act = nn.GELU()
        self.ff2 = nn.Linear(ffn, d_model)
        self.norm2 = nn.LayerNorm(d_model, eps=eps)

    def forward(self, x):
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.ff2(self.act(self.ff1(x))))


class BertMini(nn.Module):
    """BERT-mini-like encoder: token + position embeddings, embedding
    LayerNorm, 4 post-norm transformer encoder layers (batch-first)."""

    def __init__(self, vocab=8192, seq=128, d_model=256, heads=4, ffn=1024, layers=4,
                 eps=1e-12):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(seq, d_model)
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.layers = nn.ModuleList(
            EncoderLayer(seq, d_model, heads, ffn, eps) for _ in range(layers))
        self.register_buffer("positions", torch.arange(seq).unsqueeze(0), persistent=False)

    def forward(self, input_ids):
        h = self.norm(self.tok(input_ids) + self.pos(self.positions))
        for layer in self.layers:
            h = layer(h)
        return h


def calibrate_batchnorm(model, x):
    """Give BatchNorm layers realistic running statistics (one train-mode
    forward pass over x). Randomly initialised BN is the identity (all
    gammas 1, betas/means 0, vars 1); after Conv+BN fusion the exporter would
    then deduplicate the many identical zero biases into one initializer plus
    Identity nodes, and activations would not be normalised."""
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average: stats of this batch
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def perturb_layernorm(model, gen):
    """Random (seeded) LayerNorm affine parameters, for the same reason as
    calibrate_batchnorm: all-ones/all-zeros parameters get deduplicated."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1.0 + 0.1 * torch.randn(mod.weight.shape, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))


def fix_output_dims(path, name, dims):
    """Set the declared dims of a graph output (torch 1.13's shape inference
    leaves some static dims symbolic). Needs python3-onnx; skipped without."""
    try:
        import onnx
    except ImportError:
        print(f"warning: python3-onnx missing, {path} output dims left as exported",
              file=sys.stderr)
        return
    m = onnx.load(path)
    (out,) = [o for o in m.graph.output if o.name == name]
    for d, v in zip(out.type.tensor_type.shape.dim, dims):
        if isinstance(v, str):
            d.dim_param = v
        else:
            d.dim_value = v
    onnx.save(m, path)


def save_example(out, name, x, model):
    """<name>_input.npy / <name>_expected.npy: the export example input and
    the torch output for it, for checking an engine against torch."""
    with torch.no_grad():
        y = model(x)
    np.save(os.path.join(out, name + "_input.npy"), x.numpy())
    np.save(os.path.join(out, name + "_expected.npy"), y.numpy().astype(np.float32))


def make_bench(out):
    import torchvision

    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    img = torch.randn(1, 3, 224, 224, generator=gen)
    calib = torch.randn(8, 3, 224, 224, generator=gen)
    for name, ctor in (("resnet18", torchvision.models.resnet18),
                       ("mobilenet_v2", torchvision.models.mobilenet_v2)):
        set_determinism(SEED)
        m = ctor(weights=None)  # random init; never downloads anything
        calibrate_batchnorm(m, calib)
        path = os.path.join(out, name + ".onnx")
        export(m, img, path, ["input"], ["output"], opset=13)
        save_example(out, name, img, m)
        print(f"{name}: {os.path.getsize(path)} bytes")

    set_determinism(SEED)
    bert = BertMini().eval()
    perturb_layernorm(bert, torch.Generator().manual_seed(SEED))
    ids = torch.randint(0, 8192, (1, 128), generator=torch.Generator().manual_seed(SEED))
    path = os.path.join(out, "bert_mini.onnx")
    export(bert, ids, path, ["input_ids"], ["last_hidden_state"], opset=17)
    fix_output_dims(path, "last_hidden_state", ["batch", 128, 256])
    save_example(out, "bert_mini", ids, bert)
    print(f"bert_mini: {os.path.getsize(path)} bytes")


class Blocks(nn.Module):
    """A small CNN that walks every layout path of the engine's planner: a 3-channel input (plain), 16-
    and 32-channel stages (channel-blocked), a 24-channel stage between them (not a multiple of 16),
    residual adds, ReLU and ReLU6 (Clip), a depthwise conv, max pooling, global average pooling and a
    linear head."""

    def __init__(self):
        super().__init__()
        c = nn.Conv2d
        self.stem = nn.Sequential(c(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.res1 = nn.Sequential(c(16, 16, 3, padding=1), nn.ReLU(), c(16, 16, 3, padding=1))
        self.to24 = nn.Sequential(c(16, 24, 1), nn.ReLU6())
        self.dw = nn.Sequential(c(24, 24, 3, padding=1, groups=24), nn.ReLU6())
        self.to32 = nn.Sequential(c(24, 32, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.res2 = nn.Sequential(c(32, 32, 3, padding=1), nn.ReLU(), c(32, 32, 1))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        h = self.stem(x)
        h = torch.relu(h + self.res1(h))
        h = self.to24(h)
        h = self.dw(h) + h
        h = self.pool(self.to32(h))
        h = torch.relu(h + self.res2(h))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


def make_blocks(out):
    """models/blocks.onnx with blocks_input.npy / blocks_expected.npy (batch 2): random weights, for
    checking the engine's layouts and fusions against torch. Small enough to commit."""
    set_determinism(SEED)
    m = Blocks()
    gen = torch.Generator().manual_seed(SEED)
    calibrate_batchnorm(m, torch.randn(8, 3, 16, 16, generator=gen))
    x = torch.randn(2, 3, 16, 16, generator=gen)
    path = os.path.join(out, "blocks.onnx")
    export(m, x, path, ["input"], ["logits"], opset=13)
    save_example(out, "blocks", x, m)
    print(f"blocks: {os.path.getsize(path)} bytes")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true",
                    help="also write the benchmark models into OUT/bench/")
    ap.add_argument("--out", default=HERE,
                    help="output directory (default: this script's directory)")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, numpy {np.__version__}", file=sys.stderr)
    make_digits(args.out)
    make_blocks(args.out)
    if args.bench:
        make_bench(os.path.join(args.out, "bench"))


if __name__ == "__main__":
    main()
