#!/usr/bin/env python3
"""Plain PyTorch reference of plexus's FL rounds, for speed comparisons (bench/fl_speed.sh).

It reads the same plexus TOML config (configs/*.toml plus the same --set overrides) and runs the same rounds the
way the papers' research code does: one nn.Module, clients trained one after another, each client's model
loaded from / stored to one row of a stacked [N, P] tensor, mini-batches by index from data tensors preloaded on
the device, SGD with momentum/weight decay, SAM / ASAM (two forward/backward passes per step), gradient
clipping, client-level DP (clip + Gaussian noise) at the server, gossip X <- W X with Metropolis weights on a
time-varying random graph, push-sum (SGP) for DFedPGP with alternating head/body epochs, and the same
evaluation (every client's model on its local test set, plus the average model on the whole test set).

What is the same as plexus: model (the papers' CNN or the MLP), data (Fashion-MNIST IDX, same normalization),
client count, per-client sample counts (the "per_client" Dirichlet form gives every client n/N samples), batch
size, number of local steps, SAM passes, local test sizes, evaluation schedule. What differs: the random draws
(partition, shuffles, graphs, noise come from torch/numpy generators, not plexus's xoshiro streams), so the
accuracies are comparable in distribution only; the cost per round is what this script is for.

Runs with Debian's python3-torch (1.13, CPU) and with a CUDA PyTorch 2.x:
  /usr/bin/python3 bench/fl_reference.py --config configs/quickstart.toml --set fl.rounds=1 --threads 2
Prints one JSON object (seconds per round: train / comm / eval, samples trained per second).
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

try:
    import tomllib
except ImportError:  # Python < 3.11: the configs use only tables, scalars, strings and flat arrays
    import ast
    import re

    class tomllib:  # noqa: N801 (stands in for the module)
        @staticmethod
        def _value(text):
            text = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", text.strip()))
            return ast.literal_eval(text)

        @staticmethod
        def loads(text):
            root, table = {}, None
            for line in text.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("["):
                    table = root.setdefault(line.strip("[]").strip(), {})
                    continue
                key, value = line.split("=", 1)
                (table if table is not None else root)[key.strip()] = tomllib._value(value)
            return root

        @staticmethod
        def load(f):
            return tomllib.loads(f.read().decode())

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- config ------------------------------------------------------------------------------------------------

DEFAULTS = {
    "run": {"seed": 0, "device": "cpu", "threads": 0},
    "data": {"dataset": "fashion_mnist", "partition": "dirichlet", "dirichlet_alpha": 0.3, "local_test_size": 0,
             "train_subset": 0, "path": "", "normalize": True},
    "model": {"name": "cnn", "hidden": [200, 200]},
    "fl": {"algorithm": "dfedsam", "clients": 20, "rounds": 20, "client_fraction": 0.1, "gossip_steps": 1,
           "eval_every": 1},
    "topology": {"kind": "time_varying", "neighbors": 2},
    "train": {"batch_size": 32, "local_epochs": 1, "local_steps": 0, "lr": 0.1, "lr_decay": 0.998, "momentum": 0.0,
              "weight_decay": 0.0, "grad_clip": 0.0, "rho": 0.05, "adaptive": False},
    "privacy": {"clip_norm": 0.2, "noise_multiplier": 0.95, "sampling": "poisson"},
    "personalization": {"head_epochs": 1, "body_epochs": 5, "lr_head": 0.01, "lr_body": 0.05},
}


def load_config(path, sets):
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
    for s in sets:  # "table.key=value" with a TOML value, as plexus's --set
        key, value = s.split("=", 1)
        table, name = key.split(".", 1)
        cfg.setdefault(table, {})[name] = tomllib.loads("v = " + value)["v"]
    out = {}
    for table, d in DEFAULTS.items():
        out[table] = dict(d)
        out[table].update(cfg.get(table, {}))
    return out


# ---- data ---------------------------------------------------------------------------------------------------

def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(directory, stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"error: {stem}[.gz] not found in {directory}; set PLEXUS_FASHION_MNIST or data.path")


def load_fashion_mnist(cfg):
    d = cfg["data"]["path"] or os.environ.get("PLEXUS_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
    sets = []
    for split in ("train", "t10k"):
        x = read_idx(find_idx(d, f"{split}-images-idx3-ubyte")).astype(np.float32)
        y = read_idx(find_idx(d, f"{split}-labels-idx1-ubyte")).astype(np.int64)
        x = x / 255.0  # data.normalize = false: [0, 1], as the papers' reference code (ToTensor only)
        if cfg["data"]["normalize"]:
            x = (x - 0.2860) / 0.3530  # plexus's default standardization (data/fashion_mnist.cpp)
        sets.append((torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)))
    return sets


def partition(y, clients, alpha, rng):
    """Dirichlet label skew, per-client form: every client gets n/N samples with class shares ~ Dir(alpha)."""
    n, classes = len(y), int(y.max()) + 1
    pools = [list(rng.permutation(np.flatnonzero(y == c))) for c in range(classes)]
    per = n // clients
    out = []
    for _ in range(clients):
        q = rng.dirichlet([alpha] * classes)
        want = np.floor(q * per).astype(int)
        want[np.argmax(q)] += per - want.sum()
        idx = []
        for c in range(classes):
            take = min(want[c], len(pools[c]))
            idx += pools[c][:take]
            del pools[c][:take]
        c = 0
        while len(idx) < per:  # a class ran out: fill from the others
            if pools[c]:
                idx.append(pools[c].pop())
            c = (c + 1) % classes
        out.append(np.array(idx, dtype=np.int64))
    return out


def local_tests(y_test, train_labels, m, rng):
    """m test indices per client in proportion to its training label histogram (as plexus, sizes exact)."""
    classes = int(y_test.max()) + 1
    by_class = [np.flatnonzero(y_test == c) for c in range(classes)]
    out = []
    for lab in train_labels:
        h = np.bincount(lab, minlength=classes) / len(lab)
        counts = np.floor(h * m).astype(int)
        counts[np.argmax(h)] += m - counts.sum()
        idx = [rng.choice(by_class[c], size=k, replace=k > len(by_class[c])) for c, k in enumerate(counts) if k > 0]
        out.append(np.concatenate(idx).astype(np.int64))
    return out


# ---- models (as src/plexus/nn/models.cpp) -------------------------------------------------------------------

class Cnn(nn.Module):
    def __init__(self, c, h, w, classes):
        super().__init__()
        s = lambda v: (v - 4) // 2
        self.conv2d_1 = nn.Conv2d(c, 32, 5)
        self.conv2d_2 = nn.Conv2d(32, 64, 5)
        self.linear_1 = nn.Linear(64 * s(s(h)) * s(s(w)), 512)
        self.output_layer = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv2d_1(x), 2, 2))
        x = F.relu(F.max_pool2d(self.conv2d_2(x), 2, 2))
        x = F.relu(self.linear_1(x.flatten(1)))
        return self.output_layer(x)


class Mlp(nn.Module):
    def __init__(self, c, h, w, hidden, classes):
        super().__init__()
        sizes = [c * h * w] + list(hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.output_layer = nn.Linear(sizes[-1], classes)

    def forward(self, x):
        x = x.flatten(1)
        for l in self.hidden:
            x = F.relu(l(x))
        return self.output_layer(x)


def set_row(model, row):
    torch.nn.utils.vector_to_parameters(row, model.parameters())


def get_row(model):
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach()


# ---- local training ----------------------------------------------------------------------------------------

def grads(params):
    return [p.grad for p in params]


def train_client(model, params, x, y, idx, steps, lr, o, sam, gen, dev):
    """`steps` SGD(+SAM/ASAM) steps of batch o.batch_size on indices idx (reshuffled each epoch); only `params`
    move (the others are frozen). Momentum/weight decay as torch.optim.SGD; grad clipping by total norm."""
    if steps == 0:
        return 0.0
    opt = torch.optim.SGD(params, lr=lr, momentum=o["momentum"], weight_decay=o["weight_decay"])
    B, n = o["batch_size"], len(idx)
    order, cursor, loss_sum = None, n, 0.0
    rho, adaptive = o["rho"], o["adaptive"]
    for _ in range(steps):
        if cursor >= n:
            order = idx[torch.randperm(n, generator=gen).to(dev)]
            cursor = 0
        b = order[cursor:cursor + B]
        cursor += B
        xb, yb = x.index_select(0, b), y.index_select(0, b)
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        loss_sum += loss.item()
        if sam and rho > 0:
            with torch.no_grad():
                tg = [g * p.abs() if adaptive else g for p, g in zip(params, grads(params))]
                scale = rho / (torch.norm(torch.stack([t.norm() for t in tg])) + 1e-12)
                es = [g * scale * (p * p if adaptive else 1.0) for p, g in zip(params, grads(params))]
                for p, e in zip(params, es):
                    p.add_(e)
            opt.zero_grad(set_to_none=False)
            F.cross_entropy(model(xb), yb).backward()
            with torch.no_grad():
                for p, e in zip(params, es):
                    p.sub_(e)
        if o["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, o["grad_clip"])
        opt.step()
    return loss_sum / steps


@torch.no_grad()
def evaluate(model, x, y, idx, batch=1000):
    correct, loss = 0, 0.0
    for s in range(0, len(idx), batch):
        b = idx[s:s + batch]
        logits = model(x.index_select(0, b))
        yb = y.index_select(0, b)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += int((logits.argmax(1) == yb).sum().item())
    return correct / max(1, len(idx)), loss


# ---- communication -----------------------------------------------------------------------------------------

def undirected_graph(n, k, gen):
    a = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        others = torch.randperm(n - 1, generator=gen)[:k]
        others = others + (others >= i).long()
        a[i, others] = 1
    return ((a + a.t()) > 0).double()


def metropolis(a):
    deg = a.sum(1)
    w = a / (1 + torch.maximum(deg[:, None], deg[None, :]))
    return w + torch.diag(1 - w.sum(1))


def push_matrix(n, k, gen):
    """Column-stochastic P: client i pushes to k random others and itself, p_ji = 1/(k+1)."""
    p = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        others = torch.randperm(n - 1, generator=gen)[:k]
        others = others + (others >= i).long()
        p[others, i] = 1.0 / (len(others) + 1)
        p[i, i] = 1.0 / (len(others) + 1)
    return p


# ---- the run -----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = run.threads or all cores)")
    ap.add_argument("--device", default="", help="cpu | cuda (default run.device)")
    a = ap.parse_args()
    cfg = load_config(a.config, a.set)
    run, fl, o, pers = cfg["run"], cfg["fl"], cfg["train"], cfg["personalization"]
    threads = a.threads or run["threads"] or os.cpu_count()
    torch.set_num_threads(threads)
    dev = torch.device(a.device or run["device"])
    algo = fl["algorithm"]
    if algo not in ("dfedsam", "dfedavg", "dp_fedsam", "dp_fedavg", "fedavg", "fedsam", "dfedpgp"):
        raise SystemExit(f"error: fl_reference.py implements dfedsam, dfedavg, dp_fedsam, dp_fedavg, fedavg, fedsam, "
                         f"dfedpgp; not '{algo}'")
    seed = run["seed"]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    t_load = time.time()
    (xtr, ytr), (xte, yte) = load_fashion_mnist(cfg)
    if cfg["data"]["train_subset"]:
        keep = torch.from_numpy(rng.choice(len(ytr), cfg["data"]["train_subset"], replace=False))
        xtr, ytr = xtr[keep], ytr[keep]
    N = fl["clients"]
    parts = partition(ytr.numpy(), N, cfg["data"]["dirichlet_alpha"], rng)
    m_test = cfg["data"]["local_test_size"] or math.ceil(len(yte) / N)
    tests = local_tests(yte.numpy(), [ytr.numpy()[p] for p in parts], m_test, rng)
    xtr, ytr, xte, yte = xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev)
    parts = [torch.from_numpy(p).to(dev) for p in parts]
    tests = [torch.from_numpy(t).to(dev) for t in tests]
    all_test = torch.arange(len(yte), device=dev)
    _, c, h, w = xtr.shape
    classes = int(ytr.max().item()) + 1
    model = (Cnn(c, h, w, classes) if cfg["model"]["name"] == "cnn" else Mlp(c, h, w, cfg["model"]["hidden"], classes))
    model = model.to(dev)
    X = get_row(model).unsqueeze(0).repeat(N, 1)  # [N, P]
    P = X.shape[1]
    head_cols = sum(p.numel() for p in model.output_layer.parameters())
    body_params = [p for n_, p in model.named_parameters() if not n_.startswith("output_layer")]
    head_params = list(model.output_layer.parameters())
    mu = torch.ones(N, dtype=torch.float64, device=dev)
    load_s = time.time() - t_load

    def steps_for(n, epochs):
        return o["local_steps"] if o["local_steps"] > 0 else epochs * math.ceil(n / o["batch_size"])

    def eval_locals(Z):
        accs = []
        for i in range(N):
            set_row(model, Z[i])
            accs.append(evaluate(model, xte, yte, tests[i])[0])
        return accs

    rows = []
    for t in range(fl["rounds"]):
        sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
        t0 = time.time()
        lr = o["lr"] * o["lr_decay"] ** t
        r = t + 1
        eval_now = r % fl["eval_every"] == 0 or r == fl["rounds"]
        eval_s, samples, loss_sum = 0.0, 0, 0.0
        if algo == "dfedpgp":
            Z = X.clone()
            Z[:, : P - head_cols] /= mu[:, None].to(X.dtype)
            if eval_now:
                te = time.time(); eval_locals(Z); sync(); eval_s += time.time() - te
            t1 = time.time()
            for i in range(N):
                set_row(model, Z[i])
                z0 = Z[i].clone()
                n = len(parts[i])
                hs, bs = pers["head_epochs"] * math.ceil(n / o["batch_size"]), pers["body_epochs"] * math.ceil(n / o["batch_size"])
                for p_ in body_params: p_.requires_grad_(False)
                loss_sum += train_client(model, head_params, xtr, ytr, parts[i], hs, pers["lr_head"] * o["lr_decay"] ** t,
                                         o, False, gen, dev)
                for p_ in body_params: p_.requires_grad_(True)
                for p_ in head_params: p_.requires_grad_(False)
                loss_sum += train_client(model, body_params, xtr, ytr, parts[i], bs, pers["lr_body"] * o["lr_decay"] ** t,
                                         o, False, gen, dev)
                for p_ in head_params: p_.requires_grad_(True)
                samples += (hs + bs) * o["batch_size"]
                Z[i] = get_row(model)
                X[i] += Z[i] - z0
            sync(); train_s = time.time() - t1
            if eval_now:
                te = time.time(); eval_locals(Z); sync(); eval_s += time.time() - te
            t2 = time.time()
            Pm = push_matrix(N, cfg["topology"]["neighbors"], gen).to(dev)
            X[:, : P - head_cols] = (Pm.to(X.dtype) @ X[:, : P - head_cols])
            mu = Pm @ mu
            sync(); comm_s = time.time() - t2
        else:
            server = algo in ("dp_fedsam", "dp_fedavg", "fedavg", "fedsam")
            dp = algo.startswith("dp_")
            sam = algo in ("dfedsam", "dp_fedsam", "fedsam")
            if server and dp and cfg["privacy"]["sampling"] == "poisson":
                who = [i for i in range(N) if rng.uniform() < fl["client_fraction"]]
            elif server:
                who = sorted(rng.choice(N, max(1, round(fl["client_fraction"] * N)), replace=False).tolist())
            else:
                who = list(range(N))
            t1 = time.time()
            x_glob = X[0].clone()
            for i in who:
                set_row(model, X[i])
                k = steps_for(len(parts[i]), o["local_epochs"])
                loss_sum += train_client(model, list(model.parameters()), xtr, ytr, parts[i], k, lr, o, sam, gen, dev)
                samples += k * o["batch_size"] * (2 if sam else 1)
                X[i] = get_row(model)
            sync(); train_s = time.time() - t1
            t2 = time.time()
            if dp:
                C, sigma = cfg["privacy"]["clip_norm"], cfg["privacy"]["noise_multiplier"]
                m_bar = fl["client_fraction"] * N if cfg["privacy"]["sampling"] == "poisson" else max(1, len(who))
                total = torch.zeros(P, device=dev)
                for i in who:
                    d = X[i] - x_glob
                    d = d * min(1.0, C / (d.norm().item() + 1e-12))
                    total += d + torch.randn(P, device=dev) * (sigma * C / math.sqrt(m_bar))
                X[:] = x_glob + total / m_bar
            elif server:
                if who:
                    X[:] = X[who].mean(0)
            else:
                W = metropolis(undirected_graph(N, cfg["topology"]["neighbors"], gen)).to(dev).to(X.dtype)
                for _ in range(fl["gossip_steps"]):
                    X = W @ X
            sync(); comm_s = time.time() - t2
            if eval_now:
                te = time.time()
                eval_locals(X)
                set_row(model, X.mean(0))
                evaluate(model, xte, yte, all_test)
                sync(); eval_s = time.time() - te
        rows.append({"round": r, "seconds": time.time() - t0, "seconds_train": train_s, "seconds_comm": comm_s,
                     "seconds_eval": eval_s, "samples": samples, "train_loss": loss_sum / max(1, N)})
    n_rows = len(rows)
    mean = lambda k: sum(row[k] for row in rows) / n_rows
    print(json.dumps({"implementation": "pytorch_reference", "torch": torch.__version__, "device": str(dev),
                      "threads": threads, "algorithm": algo, "clients": N, "parameters": P, "rounds": n_rows,
                      "load_seconds": round(load_s, 3), "seconds_per_round": mean("seconds"),
                      "seconds_last_round": rows[-1]["seconds"], "seconds_train_last_round": rows[-1]["seconds_train"],
                      "seconds_train": mean("seconds_train"), "seconds_comm": mean("seconds_comm"),
                      "seconds_eval": mean("seconds_eval"),
                      "train_loss_per_round": [row["train_loss"] for row in rows],
                      "train_samples_per_second": sum(r_["samples"] for r_ in rows) / max(1e-9, sum(r_["seconds_train"] for r_ in rows))}))


if __name__ == "__main__":
    main()
