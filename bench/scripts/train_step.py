#!/usr/bin/env python3
"""One stage-1 training step of a BART-architecture model in Python PyTorch, for comparison with
bench/train_step_bench (the same model in dgr's C++): the same layers in the same order
(learned positions offset by 2, layernorm_embedding, post-LayerNorm blocks, exact GELU, tied
output embedding + final_logits_bias), fairseq's label-smoothed cross-entropy, AdamW with no decay
on biases and LayerNorm weights, on a fixed random batch of the same shapes.

Prints one JSON line: median seconds per step and per phase over --steps timed steps (after
--warmup untimed ones). Run with Debian's python3-torch (the same libtorch as dgr):
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/scripts/train_step.py --threads 1

--weights and --batch-file read the safetensors files train_step_bench --save-weights and
--save-batch wrote (Hugging Face names; "model." is dropped), so both sides start from the same
numbers; --check 1 runs one dropout-free step and prints the mean token loss and the gradient
norms train_step_bench --check 1 prints, instead of timings.
"""
import argparse
import contextlib
import json
import statistics
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # d_model, layers (each side), heads, ffn, positions: dgr's presets (core/model/bart_config.h)
    "tiny": (32, 2, 4, 64, 64),
    "mini": (128, 2, 4, 512, 128),
    "small": (256, 3, 4, 1024, 256),
    "bart-base": (768, 6, 12, 3072, 1024),
    "bart-large": (1024, 12, 16, 4096, 1024),
}


class Attention(nn.Module):
    def __init__(self, d, heads, dropout=0.0):
        super().__init__()
        self.dropout = dropout
        self.heads = heads
        self.head_dim = d // heads
        self.scaling = self.head_dim ** -0.5
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.q_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def split(self, x):
        n, t, d = x.shape
        return x.view(n, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, kv, blocked):
        n, tq, d = x.shape
        q = self.split(self.q_proj(x) * self.scaling)
        k, v = self.split(self.k_proj(kv)), self.split(self.v_proj(kv))
        scores = torch.matmul(q, k.transpose(-1, -2))
        if blocked is not None:
            scores = scores.masked_fill(blocked, torch.finfo(scores.dtype).min)
        probs = F.dropout(torch.softmax(scores, -1), self.dropout, self.training)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(n, tq, d)
        return self.out_proj(out)


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ffn, attention_dropout=0.0, activation_dropout=0.0):
        super().__init__()
        self.activation_dropout = activation_dropout
        self.self_attn = Attention(d, heads, attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x, padding, p):
        h = F.dropout(self.self_attn(x, x, padding), p, self.training)
        y = self.self_attn_layer_norm(x + h)
        a = F.dropout(F.gelu(self.fc1(y)), self.activation_dropout, self.training)
        h = F.dropout(self.fc2(a), p, self.training)
        return self.final_layer_norm(y + h)


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ffn, attention_dropout=0.0, activation_dropout=0.0):
        super().__init__()
        self.activation_dropout = activation_dropout
        self.self_attn = Attention(d, heads, attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, heads, attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x, memory, causal, padding, p):
        h = F.dropout(self.self_attn(x, x, causal), p, self.training)
        y = self.self_attn_layer_norm(x + h)
        h = F.dropout(self.encoder_attn(y, memory, padding), p, self.training)
        y = self.encoder_attn_layer_norm(y + h)
        a = F.dropout(F.gelu(self.fc1(y)), self.activation_dropout, self.training)
        h = F.dropout(self.fc2(a), p, self.training)
        return self.final_layer_norm(y + h)


class Stack(nn.Module):
    def __init__(self, layer, d, heads, ffn, layers, positions, attention_dropout, activation_dropout):
        super().__init__()
        self.embed_positions = nn.Embedding(positions + 2, d)
        self.layers = nn.ModuleList([layer(d, heads, ffn, attention_dropout, activation_dropout)
                                     for _ in range(layers)])
        self.layernorm_embedding = nn.LayerNorm(d)


class Bart(nn.Module):
    def __init__(self, vocab, d, layers, heads, ffn, positions=1024, dropout=0.1,
                 attention_dropout=0.1, activation_dropout=0.1):
        super().__init__()
        self.shared = nn.Embedding(vocab, d, padding_idx=1)
        self.encoder = Stack(EncoderLayer, d, heads, ffn, layers, positions, attention_dropout,
                             activation_dropout)
        self.decoder = Stack(DecoderLayer, d, heads, ffn, layers, positions, attention_dropout,
                             activation_dropout)
        self.register_buffer("final_logits_bias", torch.zeros(1, vocab))
        self.dropout = dropout

    def embed(self, stack, ids):
        positions = torch.arange(2, 2 + ids.shape[1])
        x = self.shared(ids) + stack.embed_positions(positions)
        return F.dropout(stack.layernorm_embedding(x), self.dropout, self.training)

    def forward(self, input_ids, attention_mask, decoder_input):
        b, s = input_ids.shape
        t = decoder_input.shape[1]
        padding = attention_mask.eq(0).view(b, 1, 1, s)
        x = self.embed(self.encoder, input_ids)
        for layer in self.encoder.layers:
            x = layer(x, padding, self.dropout)
        causal = torch.arange(t).unsqueeze(0).gt(torch.arange(t).unsqueeze(1)).view(1, 1, t, t)
        y = self.embed(self.decoder, decoder_input)
        for layer in self.decoder.layers:
            y = layer(y, x, causal, padding, self.dropout)
        return F.linear(y, self.shared.weight, self.final_logits_bias.view(-1))


def label_smoothed_loss(logits, targets, epsilon, ignore_index=-100):
    vocab = logits.shape[-1]
    ignored = targets.eq(ignore_index)
    safe = targets.masked_fill(ignored, 0)
    lprobs = torch.log_softmax(logits.float(), -1)
    nll = (-lprobs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)).masked_fill(ignored, 0.0).sum()
    smooth = (-lprobs.sum(-1)).masked_fill(ignored, 0.0).sum()
    eps_i = epsilon / (vocab - 1)
    return (1.0 - epsilon - eps_i) * nll + eps_i * smooth


SAFETENSORS_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64,
                      "I32": torch.int32, "BF16": torch.bfloat16, "F16": torch.float16}


def read_safetensors(path):
    """The tensors of a safetensors file: an 8-byte little-endian header length, the JSON header,
    then the tensors' bytes at the header's offsets."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = bytearray(f.read())
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        flat = torch.frombuffer(data[begin:end], dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors


def load_hf_weights(model, path):
    state = {(n[len("model."):] if n.startswith("model.") else n): t
             for n, t in read_safetensors(path).items()}
    model.load_state_dict(state, strict=True)


# The gradients whose norms both sides print in --check mode (their Hugging Face names).
CHECKED = ["model.shared.weight", "model.encoder.layers.0.fc1.weight",
           "model.decoder.layers.0.encoder_attn.q_proj.weight",
           "model.decoder.layernorm_embedding.weight"]


def no_decay(name):
    low = name.lower()
    return name.endswith(".bias") or "layer_norm" in low or "layernorm" in low


def phase(name, profiler):
    """A "phase:<name>" range in the profile (nothing while not profiling)."""
    if profiler is None:
        return contextlib.nullcontext()
    return torch.autograd.profiler.record_function("phase:" + name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="bart-base", choices=sorted(PRESETS))
    ap.add_argument("--vocab", type=int, default=50265)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--source-len", type=int, default=32)
    ap.add_argument("--target-len", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--weights", default="")
    ap.add_argument("--batch-file", default="")
    ap.add_argument("--check", type=int, default=0)
    ap.add_argument("--attention-dropout", type=float, default=0.1)
    ap.add_argument("--activation-dropout", type=float, default=0.1)
    ap.add_argument("--profile", default="",
                    help="after the timed steps, 3 more under the autograd profiler, written "
                         "to this file as a Chrome trace")
    args = ap.parse_args()
    if args.check:
        args.dropout = args.attention_dropout = args.activation_dropout = 0.0

    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    d, layers, heads, ffn, positions = PRESETS[args.arch]
    model = Bart(args.vocab, d, layers, heads, ffn, positions=positions, dropout=args.dropout,
                 attention_dropout=args.attention_dropout,
                 activation_dropout=args.activation_dropout)
    if args.weights:
        load_hf_weights(model, args.weights)
    model.train()
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": 0.01},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=3e-5, betas=(0.9, 0.999), eps=1e-8)

    gen = torch.Generator().manual_seed(11)
    ids = torch.randint(4, args.vocab, (args.batch, args.source_len), generator=gen)
    mask = torch.ones_like(ids)
    dec = torch.randint(4, args.vocab, (args.batch, args.target_len), generator=gen)
    labels = torch.randint(4, args.vocab, (args.batch, args.target_len), generator=gen)
    if args.batch_file:
        batch = read_safetensors(args.batch_file)
        ids, dec, labels = batch["input_ids"], batch["decoder_input_ids"], batch["labels"]
        mask = torch.ones_like(ids)
    tokens = labels.numel()

    if args.check:
        summed = label_smoothed_loss(model(ids, mask, dec), labels, 0.1)
        (summed / tokens).backward()
        params = dict(model.named_parameters())
        norms = {name: params[name[len("model."):]].grad.norm().item() for name in CHECKED}
        print(json.dumps({"impl": "python", "loss": summed.item() / tokens, "grad_norms": norms}))
        return

    phases = {"step": [], "forward": [], "backward": [], "optimizer": []}
    profiled = 3 if args.profile else 0
    profiler = None
    for i in range(args.warmup + args.steps + profiled):
        if i == args.warmup + args.steps:
            # The legacy profiler, as the C++ side's RecordProfile.
            profiler = torch.autograd.profiler.profile(use_kineto=False)
            profiler.__enter__()
        t0 = time.perf_counter()
        with phase("forward", profiler):
            logits = model(ids, mask, dec)
            loss = label_smoothed_loss(logits, labels, 0.1)
            loss_value = loss.item()
        t1 = time.perf_counter()
        with phase("backward", profiler):
            (loss / tokens).backward()
        t2 = time.perf_counter()
        with phase("optimizer", profiler):
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)
        t3 = time.perf_counter()
        if args.warmup <= i < args.warmup + args.steps:
            phases["forward"].append(t1 - t0)
            phases["backward"].append(t2 - t1)
            phases["optimizer"].append(t3 - t2)
            phases["step"].append(t3 - t0)
    if profiler is not None:
        profiler.__exit__(None, None, None)
        profiler.export_chrome_trace(args.profile)
    out = {
        "impl": "python",
        "torch": torch.__version__,
        "arch": args.arch,
        "threads": args.threads,
        "batch": args.batch,
        "loss": loss_value / tokens,
    }
    out.update({k + "_s": statistics.median(v) for k, v in phases.items()})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
