"""`python -m kefer_torch train`: KE-FER training under torchrun (DDP), the engine's loop
(src/engine/train/trainer.ts) on PyTorch.

Same data order, augmentation, initial weights, losses, SGD, schedule, checkpoint selection, checkpoint
files and JSON events as the engine. Distributed (torchrun): every rank takes its contiguous share of the
engine's global batch; v, n and the labels of all ranks are gathered so the losses are the global batch's
(the pairwise Lc pairs samples across ranks), and BatchNorm sees the global batch with --sync-bn. A step
on N processes is then the one-process step on the same global batch, up to float rounding. Rank 0 alone
writes checkpoints, run.json and events. Stops (SIGTERM/SIGINT on any rank, or RUN_DIR/.stop) are agreed
on by all ranks at the next step; `last` is saved there and the run resumes to the same result.
"""
import argparse
import json
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone

import torch
import torch.distributed as dist

from . import checkpoint as ck
from .augment import AUGMENT_MODES
from .data import IMAGENET_MEAN, IMAGENET_STD, DataError, EngineOrderSampler, EvalImages, ListDataset, TrainImages, hold_out
from .distributed import Dist, convert_sync_batchnorm
from .losses import balanced_class_weights, kefer_loss, l2normalize
from .models import BACKBONES, DEFAULT_INPUT, FEATURE_DIM, KeferNet, engine_init
from .rng import derive_seed
from .text import load_text

# the configuration keys a resume must match (trainer.ts sameConfig)
RESUME_KEYS = ["backbone", "batchSize", "lr", "epochs", "seed", "contrast", "lambdaS", "lambdaT", "lambdaC", "weightDecay", "momentum", "balance", "augment"]
STOP_FILE = ".stop"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m kefer_torch train", description="KE-FER training on PyTorch (run it under torchrun for DDP)")
    p.add_argument("--data", required=True, help="training samples: list:FILE[#split][?root=DIR&classes=7|8]")
    p.add_argument("--val", help="validation list spec, or 'none' (default: a stratified --holdout share of --data)")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--text", required=True, help="class text embeddings (the engine's JSON, e.g. RUN/torch/text.json)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--backbone", choices=BACKBONES, default="resnet18")
    p.add_argument("--input-size", type=int)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch", type=int, default=64, help="global batch (split over the processes)")
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--warmup-lr", type=float, default=1e-4)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--contrast", choices=["pairwise", "per-sample"], default="pairwise")
    p.add_argument("--logit-scale", type=float, default=100.0)
    p.add_argument("--lambda-s", type=float, default=1.0)
    p.add_argument("--lambda-t", type=float, default=1.0)
    p.add_argument("--lambda-c", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=29)
    p.add_argument("--init", help="pretrained encoder weights (.safetensors, .pth): torchvision names, a KE-FER checkpoint's encoder.*, or for swin_t the released code's names")
    p.add_argument("--augment", choices=AUGMENT_MODES, default="standard")
    p.add_argument("--balance", choices=["none", "sampler", "weights"], default="none")
    p.add_argument("--sync-bn", action="store_true", help="BatchNorm statistics over the global batch (all ranks)")
    p.add_argument("--loader-workers", type=int, default=None, help="DataLoader workers per process (default: 2 on a GPU, 0 on a CPU)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--amp", action="store_true", help="CUDA only: fp16 autocast for the encoder (fp32 master weights)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--meta", help="JSON from the engine: dataset description, validation description, data check")
    p.add_argument("--events", choices=["text", "json"], default="json")
    a = p.parse_args(argv)
    for name in ("epochs", "batch"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return a


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def lr_for_epoch(epoch, c):
    """schedule.ts lrForEpoch: constant warm-up lr, then cosine decay stepped once per epoch."""
    if epoch < c["warmupEpochs"]:
        return c["warmupLr"]
    span = max(c["epochs"] - c["warmupEpochs"], 1)
    t = (epoch - c["warmupEpochs"]) / span
    return 0.5 * c["lr"] * (1 + math.cos(math.pi * t))


class Events:
    """Rank 0's event lines: stdout (JSON or text) and RUN_DIR/events.jsonl (with a time)."""

    def __init__(self, run_dir, mode, enabled):
        self.file = os.path.join(run_dir, "events.jsonl")
        self.mode, self.enabled = mode, enabled

    def __call__(self, e):
        if not self.enabled:
            return
        line = json.dumps(e)
        print(line if self.mode == "json" else _text(e), flush=True)
        with open(self.file, "a") as f:
            f.write(json.dumps({**e, "time": now_iso()}) + "\n")

    def log(self, message, level="info"):
        self({"type": "log", "level": level, "message": message})


def _text(e):
    t = e["type"]
    if t == "step":
        return f"step {e['step']}/{e['totalSteps']} epoch {e['epoch']}  loss {e['loss']:.4f} (Ls {e['ls']:.4f} Lt {e['lt']:.4f} Lc {e['lc']:.4f})  lr {e['lr']:.2e}  {e['imgPerSec']:.1f} img/s"
    if t == "epoch":
        war = "-" if e["valAccuracy"] is None else f"{100 * e['valAccuracy']:.2f}%"
        return f"epoch {e['epoch']}: train loss {e['trainLoss']:.4f}, val WAR {war}"
    if t == "log":
        return ("warning: " if e["level"] == "warn" else "") + e["message"]
    return json.dumps(e)


def pick_device(choice, d):
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise SystemExit("kefer_torch: --device cuda, but torch sees no CUDA device")
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    return torch.device("cpu")


def load_init(model, path, log):
    """Pretrained encoder weights: torchvision names (fc.* ignored), a checkpoint's encoder.*, or for
    swin_t the released code's backbone names (start_0.pt style)."""
    from .ke2nt import is_released_swin, map_released_swin, read_state_dict

    raw = read_state_dict(path)
    tensors = {}
    for k, v in raw.items():
        bare = k
        for prefix in ("module.", "encoder."):
            while bare.startswith(prefix):
                bare = bare[len(prefix):]
        tensors[bare] = v
    if model.backbone == "swin_t" and is_released_swin(tensors):
        tensors, notes = map_released_swin(tensors, path)
        for n in notes:
            log(f"--init {path}: {n}")
    drop = ("fc.",) if model.backbone != "swin_t" else ()
    tensors = {k: v for k, v in tensors.items() if not k.startswith(drop) and not k.startswith("MLP.")}
    used, ignored = ck.load_into(model.encoder, tensors, path)
    if ignored:
        log(f"--init {path}: {len(ignored)} tensor(s) ignored, e.g. '{ignored[0]}'", "warn")
    return len(used)


@torch.no_grad()
def evaluate(model, ds, size, text_norm, neutral, logit_scale, d, device, batch=100):
    """Accuracy, mean class accuracy and Ls on a dataset, each rank taking every world-th sample."""
    model.eval()
    k = text_norm.shape[0]
    idx = list(range(d.rank, len(ds), d.world))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(EvalImages(ds, size), idx), batch_size=batch, num_workers=0)
    correct = torch.zeros(k, dtype=torch.float64)
    total = torch.zeros(k, dtype=torch.float64)
    ls = torch.zeros(1, dtype=torch.float64)
    for x, y in loader:
        v, _ = model(x.to(device))
        logits = l2normalize(v.float()) @ text_norm.t() * logit_scale
        pred = logits.argmax(1).cpu()
        ls += -torch.log_softmax(logits, 1).cpu().gather(1, y[:, None]).sum().double()
        for c in range(k):
            sel = y == c
            total[c] += sel.sum()
            correct[c] += (pred[sel] == c).sum()
    stats = d.all_sum(torch.cat([correct, total, ls]))
    correct, total, ls = stats[:k], stats[k:2 * k], stats[2 * k]
    n = total.sum().item()
    present = total > 0
    model.train()
    return {
        "accuracy": correct.sum().item() / max(n, 1),
        "meanClassAccuracy": (correct[present] / total[present]).mean().item() if present.any() else 0.0,
        "ls": ls.item() / max(n, 1),
    }


class StopFlag:
    def __init__(self, run_dir):
        self.requested = False
        self.file = os.path.join(run_dir, STOP_FILE)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on)

    def _on(self, *_):
        self.requested = True

    def local(self):
        return self.requested or os.path.exists(self.file)


def run(argv):
    a = parse_args(argv)
    d = Dist()
    device = pick_device(a.device, d)
    d.init(device)
    try:
        return _train(a, d, device)
    finally:
        d.close()


def _train(a, d, device):
    run_dir = os.path.abspath(a.out)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    last_dir, best_dir = os.path.join(ckpt_dir, "last"), os.path.join(ckpt_dir, "best")
    if d.is_main:
        os.makedirs(ckpt_dir, exist_ok=True)
        if os.path.exists(os.path.join(run_dir, STOP_FILE)):
            os.remove(os.path.join(run_dir, STOP_FILE))
    d.barrier()
    emit = Events(run_dir, a.events, d.is_main)
    log = emit.log
    meta = {}
    if a.meta:
        with open(a.meta) as f:
            meta = json.load(f)

    train_ds = ListDataset(a.data)
    if len(train_ds) == 0:
        raise DataError(f"--data {a.data}: no samples")
    if a.val == "none":
        val_ds, val_desc = None, "none (last epoch kept)"
    elif a.val:
        val_ds, val_desc = ListDataset(a.val), meta.get("validation", a.val)
    else:
        train_ds, val_ds = hold_out(train_ds, a.holdout, a.seed)
        val_desc = f"{round(a.holdout * 100)}% of {a.data} held out (stratified, seed {a.seed})"
    classes = train_ds.classes
    if "neutral" not in classes:
        raise DataError("the class list has no neutral class: KE-FER needs it as the anchor")
    neutral = classes.index("neutral")
    if val_ds is not None and val_ds.classes != classes:
        val_ds.classes = classes
    text = load_text(a.text, classes)
    text_norm = l2normalize(text["matrix"]).to(device)

    size = a.input_size or DEFAULT_INPUT[a.backbone]
    cfg = {
        "backbone": a.backbone, "inputSize": size, "epochs": a.epochs, "maxSteps": a.max_steps, "batchSize": a.batch, "lr": a.lr,
        "warmupLr": a.warmup_lr, "warmupEpochs": a.warmup_epochs, "momentum": a.momentum, "weightDecay": a.weight_decay,
        "contrast": a.contrast, "lambdaS": a.lambda_s, "lambdaT": a.lambda_t, "lambdaC": a.lambda_c, "logitScale": a.logit_scale,
        "seed": a.seed, "init": a.init, "augment": a.augment, "balance": a.balance,
        "engine": "torch", "processes": d.world, "syncBatchNorm": bool(a.sync_bn), "amp": bool(a.amp),
    }
    n_train = len(train_ds)
    bs = min(a.batch, n_train)
    if bs % d.world:
        raise SystemExit(f"kefer_torch: the global batch {bs} does not split evenly over {d.world} processes")
    steps_per_epoch = max(1, n_train // bs)
    total_steps = min(a.epochs * steps_per_epoch, a.max_steps or float("inf"))

    model = KeferNet(a.backbone, size, seed=a.seed)
    state = {"epoch": 0, "stepInEpoch": 0, "globalStep": 0, "bestEpoch": -1, "bestValAccuracy": None, "history": [], "elapsedSec": 0}
    run_file = os.path.join(run_dir, "run.json")
    resumed = a.resume and os.path.exists(os.path.join(last_dir, "state.json"))
    if resumed:
        with open(run_file) as f:
            prev = json.load(f)["config"]
        for key in RESUME_KEYS:
            if prev.get(key) != cfg.get(key):
                raise SystemExit(f"kefer_torch: {run_file}: cannot resume with a different configuration ({key} was {prev.get(key)}, now {cfg.get(key)})")
        ck.load_checkpoint_dir(last_dir, model)
        with open(os.path.join(last_dir, "state.json")) as f:
            state = json.load(f)
    else:
        if a.resume:
            log(f"--resume: no checkpoint in {last_dir}; starting a new run", "warn")
        engine_init(model, a.seed)
        if a.init:
            log(f"initialised {load_init(model, a.init, log)} encoder tensors from {a.init}")
    model.to(device)
    if a.sync_bn and d.world > 1:
        model = convert_sync_batchnorm(model, device, d.world)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[d.local_rank] if device.type == "cuda" else None) if d.enabled else model
    named = [(k, p) for k, p in model.named_parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    if resumed:
        ck.load_momentum(last_dir, named, opt)
        log(f"resumed from {last_dir} at epoch {state['epoch'] + 1}, step {state['globalStep']}")
    class_weights = balanced_class_weights(train_ds.labels, len(classes)) if a.balance == "weights" else None

    workers = a.loader_workers if a.loader_workers is not None else (2 if device.type == "cuda" else 0)
    sampler = EngineOrderSampler(train_ds.labels, len(classes), bs, steps_per_epoch, a.seed, a.balance, d.world, d.rank)
    images = TrainImages(train_ds, size, a.seed, a.augment, bs)
    loader = torch.utils.data.DataLoader(images, batch_size=bs // d.world, sampler=sampler, num_workers=workers, pin_memory=device.type == "cuda")

    nodes = max(1, d.world // max(d.local_world, 1))
    where = f"CUDA {torch.cuda.get_device_name(device)}" if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s) per process"
    backend = {"name": "torch", "detail": f"PyTorch {torch.__version__} {'DDP (' + d.backend + ')' if d.enabled else 'single process'}: {d.world} process(es) on {nodes} node(s); {where}; BatchNorm {'synchronised' if a.sync_bn and d.world > 1 else 'per process'}{'; AMP' if a.amp else ''}"}
    text_info = text["source"]
    synthetic = bool(meta.get("synthetic", False))
    dataset_desc = meta.get("dataset", a.data)
    if d.is_main:
        run_json = {"status": "running", "config": cfg, "runtime": "torch", "backend": backend, "textSource": text_info,
                    "dataset": meta.get("datasetInfo", {"format": "list", "root": train_ds.root, "split": train_ds.split, "n": n_train, "synthetic": synthetic}),
                    "validation": val_desc, "dataCheck": meta.get("dataCheck"), "started": now_iso()}
        with open(run_file, "w") as f:
            f.write(json.dumps(run_json, indent=2) + "\n")
    emit({"type": "start", "runDir": run_dir, "backend": backend, "textSource": text_info.get("description", ""), "textKind": text_info.get("kind", "file"),
          "dataset": dataset_desc, "nTrain": n_train, "nVal": len(val_ds) if val_ds else 0, "epochs": a.epochs, "stepsPerEpoch": steps_per_epoch,
          "backbone": a.backbone, "synthetic": synthetic})
    if class_weights:
        log(f"class balance: weights (Ls weights {', '.join(f'{w:.2f}' for w in class_weights)})")
    elif a.balance == "sampler":
        log("class balance: sampler")

    def config_for(extra):
        return {"format": "kefer-checkpoint", "version": 1, "backbone": a.backbone, "classes": classes, "neutralIndex": neutral,
                "inputSize": size, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "logitScale": a.logit_scale, "prompts": text["prompts"],
                "textSource": text_info, "featureDim": FEATURE_DIM,
                "training": {**cfg, "dataset": meta.get("datasetInfo", {}).get("root", train_ds.root), "format": meta.get("datasetInfo", {}).get("format", "list"), "synthetic": synthetic, "backend": backend},
                **extra}

    t0 = time.time() - state["elapsedSec"]

    def save_last(step_in_epoch, epoch):
        if d.is_main:
            s = {**state, "epoch": epoch, "stepInEpoch": step_in_epoch, "elapsedSec": time.time() - t0}
            ck.save_checkpoint(last_dir, ck.clean_state_dict(model), text["matrix"], config_for({"epoch": epoch, "step": state["globalStep"]}),
                               ck.optimizer_writer(named, opt, s))
        d.barrier()

    stop = StopFlag(run_dir)
    lambdas = (a.lambda_s, a.lambda_t, a.lambda_c)
    cancelled = False
    ema = 0.0
    epoch = state["epoch"]
    amp = a.amp and device.type == "cuda"
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    net.train()
    while epoch < a.epochs and state["globalStep"] < total_steps:
        lr = lr_for_epoch(epoch, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        first = state["stepInEpoch"] if epoch == state["epoch"] else 0
        sampler.set_epoch(epoch, first)
        sums = dict(loss=0.0, ls=0.0, lt=0.0, lc=0.0, correct=0, seen=0)
        epoch_start = time.time()
        s = first
        for x, y in loader:
            if d.all_max(1.0 if stop.local() else 0.0) > 0:
                cancelled = True
                break
            step_start = time.time()
            # stochastic depth (swin_t) draws from torch's generator: seeded per step and rank for a resumable run
            torch.manual_seed(derive_seed(a.seed, epoch, s, 3 + d.rank))
            x, y = x.to(device, non_blocking=True), y.to(device)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
                v, n = net(x)
            v, n = v.float(), n.float()
            V, N, Y = d.gather_rows(v), d.gather_rows(n), d.gather_rows(y)
            total, ls, lt, lc, logits = kefer_loss(V, N, text_norm, Y, neutral, a.contrast, lambdas, a.logit_scale, class_weights)
            opt.zero_grad(set_to_none=True)
            # Every rank's loss is the global batch's, its gradient reaching this rank's rows only; DDP
            # averages over the ranks, hence the factor world: the sum is the global batch's gradient.
            scaler.scale(total * d.world).backward()
            scaler.step(opt)
            scaler.update()
            terms = torch.stack([ls, lt, lc]).detach().cpu().tolist()
            loss = lambdas[0] * terms[0] + lambdas[1] * terms[1] + lambdas[2] * terms[2]
            if not math.isfinite(loss):
                raise SystemExit(f"kefer_torch: training diverged at epoch {epoch + 1}, step {s + 1}: loss is {loss}")
            correct = int((logits.argmax(1) == Y).sum().item())
            sums["loss"] += loss
            sums["ls"] += terms[0]
            sums["lt"] += terms[1]
            sums["lc"] += terms[2]
            sums["correct"] += correct
            sums["seen"] += bs
            state["globalStep"] += 1
            ips = bs / max(time.time() - step_start, 1e-3)
            ema = 0.9 * ema + 0.1 * ips if ema else ips
            emit({"type": "step", "step": state["globalStep"], "epoch": epoch + 1, "totalSteps": total_steps, "loss": loss, "ls": terms[0], "lt": terms[1], "lc": terms[2],
                  "lr": lr, "imgPerSec": ema, "etaSec": (total_steps - state["globalStep"]) * bs / max(ema, 1e-6), "trainAcc": correct / bs})
            s += 1
            if state["globalStep"] >= total_steps:
                break
        if cancelled:
            save_last(s, epoch)
            break
        steps = max(1, sums["seen"] / bs)
        val = evaluate(model, val_ds, size, text_norm, neutral, a.logit_scale, d, device) if val_ds is not None else None
        entry = {"epoch": epoch + 1, "step": state["globalStep"], "lr": lr, "trainLoss": sums["loss"] / steps, "ls": sums["ls"] / steps, "lt": sums["lt"] / steps,
                 "lc": sums["lc"] / steps, "trainAccuracy": sums["correct"] / sums["seen"] if sums["seen"] else 0,
                 "valAccuracy": val["accuracy"] if val else None, "valMeanClassAccuracy": val["meanClassAccuracy"] if val else None,
                 "valLoss": val["ls"] if val else None, "seconds": time.time() - epoch_start}
        state["history"].append(entry)
        is_best = val is None or state["bestValAccuracy"] is None or val["accuracy"] > state["bestValAccuracy"]
        if is_best:
            state["bestEpoch"] = epoch + 1
            state["bestValAccuracy"] = val["accuracy"] if val else None
            if d.is_main:
                ck.save_checkpoint(best_dir, ck.clean_state_dict(model), text["matrix"], config_for({
                    "epoch": epoch + 1, "step": state["globalStep"], "selectedOn": "validation" if val else "last-epoch", "validation": val_desc if val else None,
                    "valAccuracy": val["accuracy"] if val else None, "valMeanClassAccuracy": val["meanClassAccuracy"] if val else None}))
        state["stepInEpoch"] = 0
        save_last(0, epoch + 1)
        epoch += 1
        state["epoch"] = epoch
        emit({"type": "epoch", "epoch": epoch, "step": state["globalStep"], "trainLoss": entry["trainLoss"], "valAccuracy": entry["valAccuracy"],
              "valMeanClassAccuracy": entry["valMeanClassAccuracy"], "valLoss": entry["valLoss"], "best": is_best, "checkpoint": best_dir if is_best else last_dir})

    selected_on = "validation" if val_ds is not None else "last-epoch"
    if d.is_main:
        if a.backbone == "swin_t" and os.path.isdir(best_dir):
            from .onnx_export import export_checkpoint

            log(f"onnx: exporting {export_checkpoint(best_dir)} (the studio evaluates Swin-T runs with onnxruntime)")
        with open(run_file) as f:
            run_json = json.load(f)
        run_json.update({"status": "cancelled" if cancelled else "done", "finished": now_iso(), "bestEpoch": state["bestEpoch"], "selectedOn": selected_on,
                         "validation": val_desc if val_ds is not None else None, "valAccuracy": state["bestValAccuracy"], "history": state["history"], "steps": state["globalStep"]})
        with open(run_file, "w") as f:
            f.write(json.dumps(run_json, indent=2) + "\n")
    emit({"type": "done", "runDir": run_dir, "bestEpoch": state["bestEpoch"], "selectedOn": selected_on, "valAccuracy": state["bestValAccuracy"],
          "checkpoint": best_dir, "cancelled": cancelled})
    d.barrier()
    return 130 if cancelled else 0
