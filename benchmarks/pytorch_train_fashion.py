#!/usr/bin/python3
"""The accuracy peer: train a network from ../shared/baselines/pytorch_cnn.py on Fashion-MNIST
with the same recipe as examples/train_fashion (SGD, momentum, weight decay, per-step cosine
schedule, batch 128, seeded shuffling, no augmentation) and print one JSON line with the test
accuracy. Run with Debian's interpreter:
    /usr/bin/python3 benchmarks/pytorch_train_fashion.py --model ref-cnn --epochs 5
"""
import argparse, json, math, os, sys, time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
for cand in (os.path.join(HERE, "..", "..", "shared", "baselines"), "/work/shared/baselines"):
    if os.path.exists(os.path.join(cand, "pytorch_cnn.py")):
        sys.path.insert(0, cand)
        break
import pytorch_cnn as peer  # noqa: E402  (the peer's network definitions and IDX reader)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = peer.idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype("float32") / 255.0
    y = peer.idx(f"{prefix}-labels-idx1-ubyte.gz", 8).astype("int64")
    return torch.from_numpy((x - 0.2860) / 0.3530), torch.from_numpy(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ref-cnn")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    xtr, ytr = load("train")
    xte, yte = load("test")
    model = peer.build(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    steps_per_epoch = math.ceil(len(xtr) / a.batch)
    total = steps_per_epoch * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / total, 1.0))))
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
    train_seconds = time.perf_counter() - t0
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(xte), 500):
            correct += (model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item()
    print(json.dumps({"model": a.model, "framework": "pytorch", "epochs": a.epochs,
                      "test_accuracy": correct / len(xte), "train_seconds": train_seconds}))


if __name__ == "__main__":
    main()
