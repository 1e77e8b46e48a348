"""The post-instruction-tuning grammar collapse of the toy models (issue 16): measure it.

    python bench/instruct_collapse.py --work-dir W tokens            # instruction pairs vs the pretraining corpus
    python bench/instruct_collapse.py --work-dir W sweep --out DIR \\
        --lrs 1e-3 --epochs 1 3 10 --along 1 2 5                      # BLiMP and losses along and across recipes
    python bench/instruct_collapse.py --work-dir W control --out DIR --lrs 1e-3 --epochs 1 10   # same recipe, pretraining text
    python bench/instruct_collapse.py --work-dir W report --out DIR   # the tables

Every run shares one pretraining (the default toy config of `--preset`, seed 0, in the store `W`)
and instruction-tunes it with the default curriculum (merged) at each (lr, epochs). A 10-epoch
run is also scored part-way, after epochs `--along`: the same stage stopped with
`instruct.max_steps` (not part of its key, so it resumes) keeps the 10-epoch schedule, which a
separate 2-epoch run would not. Each point gets the fast zero-shot tasks and three losses, all
per target token in nats:

- `loss/train_pairs`: reply tokens of pairs the stage trained on (its split);
- `loss/unseen_pairs`: reply tokens of toy pairs the split left out (same generator, unseen);
- `loss/unseen_text`: every token of toy pretraining-source documents the split left out, framed
  `<s> doc </s>` and cut into rows of `pretrain.seq_len`, as pretraining reads them (forgetting of
  the language model itself, on text of the pretraining distribution).

Rows go to DIR/rows.jsonl as they finish; a rerun skips the points already there.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from classit_ray.config import Config, OptimizerConfig
from classit_ray.config_load import apply_overrides
from classit_ray.toyworld import world_dir

N_LOSS_ITEMS = 300  # pairs per source (train, unseen) and unseen documents' rows, per loss
WORD_RE = re.compile(r"[A-Za-z']+|[0-9]+|[^\sA-Za-z0-9]")


def base_config(preset: str, overrides: dict | None = None) -> Config:
    return apply_overrides(Config(), {"model.preset": preset, "eval.checkpoints": [], **(overrides or {})})


# ---- data of the cell ------------------------------------------------------------------------
def _split_pairs(split_dir: Path) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_parquet(p, columns=["prompt", "reply", "source"]).assign(config=p.stem)
            for p in sorted((split_dir / "instruct").glob("*.parquet"))
        ],
        ignore_index=True,
    )


def _world_pairs(world: Path) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_parquet(p, columns=["prompt", "reply"]).assign(config=p.parent.name)
            for p in sorted((world / "class_it").glob("*/*.parquet"))
        ],
        ignore_index=True,
    )


def loss_sets(graph) -> dict[str, pd.DataFrame | list[str]]:
    """The pairs trained on, the toy pairs left out, and the pretraining-source documents left out."""
    from classit_ray.data.corpus import iter_documents, source_files

    cfg, world = graph.cfg, world_dir(graph.work_dir, graph.cfg.study.toy_words)
    train = _split_pairs(graph.data.split_dir)
    seen = set(zip(train.prompt, train.reply))
    allp = _world_pairs(world)
    unseen = allp[[(p, r) not in seen for p, r in zip(allp.prompt, allp.reply)]]
    pick = lambda df: pd.concat([g.sample(min(len(g), N_LOSS_ITEMS), random_state=0) for _, g in df.groupby("config")])
    used = pd.read_parquet(graph.data.split_dir / "pretrain.parquet", columns=["source", "doc"])
    used = set(zip(used.source, used.doc))
    sources = [s for s in cfg.corpus.sources if s not in cfg.budget.instruct_configs]  # held out of pretraining
    docs = [
        ("\n".join(d.lines))
        for s, path in source_files(world / "train_toy", sources).items()
        for d in iter_documents(path, s, cfg.corpus)
        if (s, d.index) not in used
    ]
    return {"train_pairs": pick(train), "unseen_pairs": pick(unseen), "unseen_text": docs}


# ---- losses ------------------------------------------------------------------------------------
def _rows_loss(model, rows: list[np.ndarray], masks: list[np.ndarray], batch: int = 32) -> float:
    """Mean next-token loss over the masked positions of right-padded rows (nats per token)."""
    import torch

    from classit_ray.train.objective import shifted_labels, summed_loss

    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            chunk, mchunk = rows[i : i + batch], masks[i : i + batch]
            width = max(len(r) for r in chunk)
            ids = torch.zeros(len(chunk), width, dtype=torch.long)
            attn, target = torch.zeros_like(ids), torch.zeros_like(ids)
            for j, (r, m) in enumerate(zip(chunk, mchunk)):
                ids[j, : len(r)], attn[j, : len(r)], target[j, : len(r)] = torch.as_tensor(r), 1, torch.as_tensor(m)
            labels = shifted_labels(ids, target)
            logits = model(input_ids=ids, attention_mask=attn).logits
            total += float(summed_loss(logits, labels))
            count += int((labels != -100).sum())
    return total / count


def losses(model_dir: str, tokenizer_dir: Path, sets: dict, max_len: int, seq_len: int) -> dict[str, float]:
    from transformers import AutoModelForCausalLM

    from classit_ray.data.template import PairRenderer
    from classit_ray.data.tokenizer import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True, local_files_only=True).eval()
    tok = load_tokenizer(tokenizer_dir)
    renderer = PairRenderer(tok, max_len)
    out = {}
    for name in ("train_pairs", "unseen_pairs"):
        for config, df in [("all", sets[name]), *sets[name].groupby("config")]:
            ids, masks = renderer.render_batch(list(df.prompt), list(df.reply))
            # the reply mask marks the tokens to predict; shifted_labels moves it onto the positions before them
            out[f"loss/{name}" + ("" if config == "all" else f"/{config}")] = _rows_loss(model, ids, masks)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    stream = [
        t for e in tok.encode_batch_fast(sets["unseen_text"], add_special_tokens=False) for t in (bos, *e.ids, eos)
    ]
    rows = [np.asarray(stream[i : i + seq_len]) for i in range(0, len(stream) - seq_len + 1, seq_len)][:N_LOSS_ITEMS]
    out["loss/unseen_text"] = _rows_loss(model, rows, [np.ones(len(r), dtype=np.int8) for r in rows])
    return out


# ---- one point of the sweep --------------------------------------------------------------------
def score(model_dir: str, graph, sets: dict, tmp: Path) -> dict:
    from classit_ray.config import EvalConfig
    from classit_ray.eval.harness import evaluate
    from classit_ray.eval.tasks import ZERO_SHOT_TASKS

    eval_dir = world_dir(graph.work_dir, graph.cfg.study.toy_words) / "evaluation_data"
    t0 = time.perf_counter()
    report = evaluate(model_dir, EvalConfig(eval_dir=str(eval_dir), tasks=list(ZERO_SHOT_TASKS), fast=True), tmp)
    from classit_ray.eval.formats import task_dir

    blimp = _per_uid(
        tmp / "zero_shot" / "causal" / "blimp" / "blimp_filtered" / "predictions.json",
        task_dir(eval_dir, True, "blimp_filtered"),
    )
    row = {k: v for k, v in report.metrics.items() if not k.startswith("eval/ties")}
    row.update({f"blimp/{k}": v for k, v in sorted(blimp.items())})
    row.update(
        losses(model_dir, graph.data.tokenizer_dir, sets, graph.cfg.instruct.max_len, graph.cfg.pretrain.seq_len)
    )
    row["eval_s"] = round(time.perf_counter() - t0, 1)
    return row


def _per_uid(predictions: Path, folder: Path) -> dict[str, float]:
    """BLiMP accuracy per phenomenon: a prediction is right when the sentence it chose is one of
    that phenomenon's good sentences (a bad sentence is never another item's good one)."""
    good = {
        f.stem: {json.loads(line)["sentence_good"] for line in f.read_text().splitlines() if line.strip()}
        for f in folder.glob("*.jsonl")
    }
    return {
        uid: float(np.mean([p["pred"] in good[uid] for p in group["predictions"]]))
        for uid, group in json.loads(predictions.read_text()).items()
    }


def train_to(cfg: Config, work_dir: Path, max_steps: int):
    """Walk the cell up to its instruction stage, stopping it at `max_steps` (0 = the end); the
    checkpoint reached and the stage's metrics."""
    from classit_ray.cell.execute import execute
    from classit_ray.cell.graph import build_graph

    cfg = apply_overrides(cfg, {"instruct.max_steps": max_steps})
    graph = build_graph(cfg, work_dir)
    done = execute(graph, graph.upto("instruct"))
    stage = [r for r in done.runs.values() if r.node.kind == "instruct"][-1].result
    return graph, (str(stage.out_dir / "final") if stage.complete else stage.latest), stage.metrics


def sweep(args) -> None:
    from classit_ray.cell.execute import execute
    from classit_ray.cell.graph import build_graph
    from classit_ray.runtime import init_ray

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.jsonl"
    done = (
        {(r["lr"], r["epochs"], r["at_epoch"]) for r in map(json.loads, rows_path.read_text().splitlines())}
        if rows_path.exists()
        else set()
    )
    init_ray("", 0)
    base = base_config(args.preset)
    graph = build_graph(base, args.work_dir)
    execute(graph, graph.upto("data"))  # the instruction shards too, for the step count below
    execute(graph, graph.upto("pretrain"))  # the one pretraining every point starts from
    sets = loss_sets(graph)
    rows_per_epoch = sum(
        json.loads((d / "manifest.json").read_text())["sequences"] for d in graph.data.instruct_shards.values()
    )
    steps_per_epoch = rows_per_epoch // base.instruct.batch_size
    print(
        f"instruction pairs {rows_per_epoch}, steps per epoch {steps_per_epoch}; "
        f"loss sets: {len(sets['train_pairs'])} trained pairs, {len(sets['unseen_pairs'])} unseen, {len(sets['unseen_text'])} unseen documents",
        flush=True,
    )

    def record(point: tuple, model_dir: str, extra: dict) -> None:
        if point in done:
            return
        t0 = time.perf_counter()
        row = {
            "lr": point[0],
            "epochs": point[1],
            "at_epoch": point[2],
            **extra,
            **score(model_dir, graph, sets, out / "eval" / f"lr{point[0]:g}-e{point[1]}-at{point[2]:g}"),
        }
        rows_path.open("a").write(json.dumps(row) + "\n")
        done.add(point)
        print(
            f"lr {point[0]:g} epochs {point[1]} at epoch {point[2]:g}: blimp {row['eval/blimp']:.3f} "
            f"train pairs {row['loss/train_pairs']:.3f} unseen pairs {row['loss/unseen_pairs']:.3f} "
            f"unseen text {row['loss/unseen_text']:.3f} ({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )

    record((0.0, 0, 0), str(Path(graph.pretrain.path) / "final"), {})  # the pretrained model
    for lr in args.lrs:
        for epochs in args.epochs:
            cfg = apply_overrides(base, {"instruct.lr": lr, "instruct.epochs": epochs})
            stops = [e for e in args.along if e < epochs] if epochs == max(args.epochs) else []
            for e in stops:
                if (lr, epochs, e) not in done:
                    _, ckpt, metrics = train_to(cfg, args.work_dir, e * steps_per_epoch)
                    record((lr, epochs, e), ckpt, {"instruct/loss": metrics.get("instruct/loss")})
            t0 = time.perf_counter()
            _, ckpt, metrics = train_to(cfg, args.work_dir, 0)
            record(
                (lr, epochs, epochs),
                ckpt,
                {"instruct/loss": metrics.get("instruct/loss"), "train_s": round(time.perf_counter() - t0, 1)},
            )


# ---- the control: the instruction recipe on pretraining text -------------------------------------
def control(args) -> None:
    """The instruction stage's optimizer and schedule (fresh AdamW, warmup, cosine, lr, steps per
    epoch) applied to the pretraining text itself, cut into rows of `--row-tokens` with the loss
    on every token: the same number of updates at the same lr with no change of distribution. If
    BLiMP falls here as it does under instruction tuning, the fall is the recipe's, not the data's."""
    import torch
    from transformers import AutoModelForCausalLM

    from classit_ray.cell.graph import build_graph
    from classit_ray.train.loop import make_optimizer, make_scheduler
    from classit_ray.train.objective import shifted_labels, summed_loss

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "control.jsonl"
    base = base_config(args.preset)
    graph = build_graph(base, args.work_dir)
    sets = loss_sets(graph)
    rows_per_epoch = sum(
        json.loads((d / "manifest.json").read_text())["sequences"] for d in graph.data.instruct_shards.values()
    )
    steps_per_epoch = rows_per_epoch // base.instruct.batch_size
    ids = np.concatenate(
        [
            np.stack(pd.read_parquet(f, columns=["input_ids"]).input_ids.to_numpy())
            for f in sorted(graph.data.pretrain_shards.glob("*.parquet"))
        ]
    )
    ids = ids[:, : ids.shape[1] // args.row_tokens * args.row_tokens].reshape(-1, args.row_tokens)
    rng = np.random.default_rng(0)
    for lr in args.lrs:
        for epochs in args.epochs:
            optim = OptimizerConfig.of(apply_overrides(base, {"instruct.lr": lr, "instruct.epochs": epochs}).instruct)
            torch.manual_seed(0)
            model_dir = str(Path(graph.pretrain.path) / "final")
            model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True, local_files_only=True)
            model.train()
            opt = make_optimizer(model, optim)
            total = steps_per_epoch * epochs
            sched = make_scheduler(opt, optim, total, 0)
            t0, step = time.perf_counter(), 0
            while step < total:
                for batch in rng.permutation(len(ids))[: steps_per_epoch * optim.batch_size].reshape(
                    steps_per_epoch, -1
                ):
                    x = torch.as_tensor(ids[batch], dtype=torch.long)
                    labels = shifted_labels(x, torch.ones_like(x))
                    loss = summed_loss(model(input_ids=x).logits, labels) / (labels != -100).sum()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
                    opt.step()
                    sched.step()
                    step += 1
            done_dir = out / f"control-lr{lr:g}-e{epochs}"
            model.save_pretrained(done_dir, safe_serialization=True)
            for f in Path(model_dir).glob("tokenizer*"):  # the scorer loads the tokenizer from the model folder
                shutil.copy(f, done_dir)
            row = {
                "lr": lr,
                "epochs": epochs,
                "row_tokens": args.row_tokens,
                "steps": total,
                "train_s": round(time.perf_counter() - t0, 1),
                "last_loss": float(loss),
                **score(str(done_dir), graph, sets, out / "eval" / f"control-lr{lr:g}-e{epochs}"),
            }
            rows_path.open("a").write(json.dumps(row) + "\n")
            print(
                f"control lr {lr:g} epochs {epochs} ({total} steps of {optim.batch_size} x {args.row_tokens} pretraining tokens): "
                f"blimp {row['eval/blimp']:.3f} unseen text {row['loss/unseen_text']:.3f} ({row['train_s']:.0f}s train)",
                flush=True,
            )


# ---- token statistics --------------------------------------------------------------------------
AGREEMENT_WORDS = ("is", "are", "was", "were", "this", "these", "that", "those")


def js(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence (bits) between two word-count distributions."""
    keys = sorted(set(p) | set(q))
    a = np.array([p[k] for k in keys], float)
    a /= a.sum()
    b = np.array([q[k] for k in keys], float)
    b /= b.sum()
    m = (a + b) / 2
    kl = lambda x: float(np.sum(x[x > 0] * np.log2(x[x > 0] / m[x > 0])))
    return (kl(a) + kl(b)) / 2


def tokens(args) -> None:
    """Words and BPE tokens of the instruction pairs (prompt, reply; per config) against the
    pretraining split, and the token passes of each stage."""
    from classit_ray.data.tokenizer import load_tokenizer

    cfg = base_config(args.preset)
    from classit_ray.cell.graph import build_graph

    graph = build_graph(cfg, args.work_dir)
    tok = load_tokenizer(graph.data.tokenizer_dir)
    pre = pd.read_parquet(graph.data.split_dir / "pretrain.parquet", columns=["source", "text"])
    pairs = _split_pairs(graph.data.split_dir)
    words = lambda texts: Counter(w.lower() for t in texts for w in WORD_RE.findall(t))
    ntok = lambda texts: sum(len(e.ids) for e in tok.encode_batch_fast(list(texts), add_special_tokens=False))
    pre_words = words(pre.text)
    pre_ntok = ntok(pre.text) + 2 * len(pre)  # <s> doc </s>
    pre_sent = [len(s.split()) for t in pre.text for s in re.split(r"(?<=[.?!])\s+|\n", t) if s.strip()]
    print(
        f"pretraining split: {sum(len(t.split()) for t in pre.text):,} words, {pre_ntok:,} tokens, {len(pre_words):,} word types, "
        f"mean sentence {np.mean(pre_sent):.1f} words"
    )
    pre_total = sum(pre_words.values())
    by_source = {src: words(g.text) for src, g in pre.groupby("source")}
    print(
        "JS divergence of word distributions between pretraining sources (for scale): "
        + ", ".join(
            f"{a}/{b} {js(by_source[a], by_source[b]):.3f}" for a, b in zip(sorted(by_source), sorted(by_source)[1:])
        )
    )
    head = f"{'part':<22}{'words':>8}{'tokens':>8}{'types':>7}{'types unseen':>13}{'tokens unseen':>14}{'tokens rare':>12}{'sent. len':>10}"
    print(head)
    for config, df in [("all", pairs), *pairs.groupby("config")]:
        for side in ("prompt", "reply"):
            texts = list(df[side])
            w = words(texts)
            n = sum(w.values())
            unseen_types = [x for x in w if x not in pre_words]
            rare = sum(c for x, c in w.items() if pre_words[x] < 5)  # fewer than 5 occurrences in pretraining
            sent = [len(s.split()) for t in texts for s in re.split(r"(?<=[.?!])\s+", t) if s.strip()]
            print(
                f"{config + ' ' + side:<22}{sum(len(t.split()) for t in texts):>8,}{ntok(texts):>8,}{len(w):>7}"
                f"{len(unseen_types):>13}{sum(w[x] for x in unseen_types) / n:>14.1%}{rare / n:>12.1%}{np.mean(sent):>10.1f}"
            )
            if unseen_types:
                print(f"    unseen: {', '.join(sorted(unseen_types, key=lambda x: -w[x])[:15])}")
            top = ", ".join(f"{x} {c / n:.1%} ({pre_words[x] / pre_total:.1%})" for x, c in w.most_common(8))
            print(
                f"    JS divergence from pretraining {js(w, pre_words):.3f} bits; top words (share in pretraining): {top}"
            )
            print(
                "    agreement words per 1000 (pretraining): "
                + ", ".join(
                    f"{x} {1000 * w[x] / n:.0f} ({1000 * pre_words[x] / pre_total:.0f})" for x in AGREEMENT_WORDS
                )
            )
    pair_tokens = ntok(pairs.prompt) + ntok(pairs.reply) + 4 * len(pairs)  # <s> <|prompt|> <|reply|> ... </s>
    reply_tokens = ntok(pairs.reply) + len(pairs)  # the targets: reply and its </s>
    e_pre, e_ins = cfg.pretrain.epochs, cfg.instruct.epochs
    print(
        f"\ninstruction pairs: {len(pairs):,}, {pair_tokens:,} tokens ({reply_tokens:,} reply targets); "
        f"per pair {pair_tokens / len(pairs):.1f} tokens; markers <|prompt|>, <|reply|> never occur in pretraining"
    )
    print(
        f"token passes: pretraining {e_pre} x {pre_ntok:,} = {e_pre * pre_ntok:,}; instruction {e_ins} x {pair_tokens:,} = {e_ins * pair_tokens:,} "
        f"(ratio {e_ins * pair_tokens / (e_pre * pre_ntok):.3f}; reply targets only {e_ins * reply_tokens / (e_pre * pre_ntok):.3f})"
    )
    steps_pre = e_pre * (pre_ntok // cfg.pretrain.seq_len) // cfg.pretrain.batch_size
    steps_ins = e_ins * len(pairs) // cfg.instruct.batch_size
    print(
        f"optimizer steps: pretraining ~{steps_pre} at lr {cfg.pretrain.lr:g}, instruction ~{steps_ins} at lr {cfg.instruct.lr:g} "
        f"(lr ratio {cfg.instruct.lr / cfg.pretrain.lr:.3f})"
    )


# ---- the tables ----------------------------------------------------------------------------------
def lr_sum(lr: float, epochs: int, at_epoch: int, steps_per_epoch: int) -> float:
    """The summed learning rate of the instruction schedule up to `at_epoch` (Adam's step is
    about lr in size, so this is the scale of how far the weights can move)."""
    optim = OptimizerConfig.of(apply_overrides(Config(), {"instruct.lr": lr, "instruct.epochs": epochs}).instruct)
    return lr_sum_of(optim, steps_per_epoch * epochs, steps_per_epoch * at_epoch)


def lr_sum_of(optim: OptimizerConfig, total_steps: int, upto: int | None = None) -> float:
    """The summed learning rate of a schedule of `total_steps`, over its first `upto` steps (all by default)."""
    import torch

    from classit_ray.train.loop import make_scheduler

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=optim.lr)
    sched, total = make_scheduler(opt, optim, total_steps, 0), 0.0
    for _ in range(total_steps if upto is None else upto):
        total += opt.param_groups[0]["lr"]
        opt.step()  # a no-op (no gradient); keeps the scheduler's order check quiet
        sched.step()
    return total


def _lead(r) -> str:
    return "pretrained | — | —" if r.epochs == 0 else f"{r.lr:g} | {int(r.epochs)} | {int(r.at_epoch)}"


def report(args) -> None:
    """Markdown tables of DIR/rows.jsonl (the sweep) and DIR/control.jsonl (the control)."""
    out = Path(args.out)
    cols = [
        "eval/blimp",
        "eval/blimp_supplement",
        "eval/ewok",
        "eval/entity_tracking",
        "eval/wug_adj",
        "eval/wug_past",
        "loss/train_pairs",
        "loss/unseen_pairs",
        "loss/unseen_text",
    ]
    rows = pd.read_json(out / "rows.jsonl", lines=True).sort_values(["lr", "epochs", "at_epoch"])
    pre = Config().pretrain
    pre_sum = lr_sum_of(OptimizerConfig.of(pre), args.pretrain_steps)
    print(f"Σ lr of the pretraining ({args.pretrain_steps} steps at {pre.lr:g}): {pre_sum:.3f}\n")
    names = [c.split("/")[-1] for c in cols]
    print("| instruct lr | epochs (schedule) | scored after epoch | Σ lr | " + " | ".join(names) + " |")
    print("|---:|---:|---:|---:|" + "---:|" * len(cols))
    for _, r in rows.iterrows():
        total = lr_sum(r.lr, int(r.epochs), int(r.at_epoch), args.steps_per_epoch) if r.epochs else 0.0
        print(f"| {_lead(r)} | {total:.3f} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")
    uids = sorted(c for c in rows.columns if c.startswith("blimp/"))
    print("\nBLiMP per phenomenon (fast, 40 items each):\n")
    short = {
        "determiner_noun_agreement": "det-noun",
        "irregular_past_tense": "irr. past",
        "pronoun_verb_agreement": "pron-verb",
        "subject_verb_agreement_pp_attractor": "s-v PP attr.",
        "subject_verb_agreement_rc_attractor": "s-v RC attr.",
        "subject_verb_agreement_simple": "s-v simple",
    }
    print("| instruct lr | epochs | after | " + " | ".join(short.get(u.split("/", 1)[1], u) for u in uids) + " |")
    print("|---:|---:|---:|" + "---:|" * len(uids))
    for _, r in rows.iterrows():
        print(f"| {_lead(r)} | " + " | ".join(f"{r[u]:.2f}" for u in uids) + " |")
    if (out / "control.jsonl").exists():
        ctl = pd.read_json(out / "control.jsonl", lines=True)
        print("\nControl: the instruction recipe on pretraining text (loss on every token):\n")
        print("| lr | epochs | steps | rows of | " + " | ".join(names) + " |")
        print("|---:|---:|---:|---:|" + "---:|" * len(cols))
        for _, r in ctl.iterrows():
            print(
                f"| {r.lr:g} | {r.epochs} | {r.steps} | {r.row_tokens} | "
                + " | ".join(f"{r[c]:.3f}" for c in cols)
                + " |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="the artifact store (one pretraining, reused)")
    parser.add_argument("--preset", default="tiny")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tokens")
    s = sub.add_parser("sweep")
    s.add_argument("--out", required=True)
    s.add_argument("--lrs", type=float, nargs="+", required=True)
    s.add_argument("--epochs", type=int, nargs="+", required=True)
    s.add_argument("--along", type=int, nargs="*", default=[], help="epochs after which the longest run is also scored")
    c = sub.add_parser("control")
    c.add_argument("--out", required=True)
    c.add_argument("--lrs", type=float, nargs="+", required=True)
    c.add_argument("--epochs", type=int, nargs="+", required=True)
    c.add_argument("--row-tokens", type=int, default=32, help="tokens per row (an instruction pair is 19.5 on average)")
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    r.add_argument(
        "--steps-per-epoch", type=int, default=66, help="as the sweep printed (66: tiny, merged, 1,065 pairs)"
    )
    r.add_argument(
        "--pretrain-steps", type=int, default=856, help="the pretraining's steps (its manifest's pretrain/step)"
    )
    args = parser.parse_args(argv)
    {"tokens": tokens, "sweep": sweep, "control": control, "report": report}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
