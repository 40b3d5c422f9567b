"""Batched training (models stacked by hand) against one-by-one training, same steps, same run.

    python benchmarks/batched_training.py                          # modular, the registry's defaults
    python benchmarks/batched_training.py --method mlp
    python benchmarks/batched_training.py --task brackets:kind=dyck1 --method lstm --sizes "8,16,32,64,128"

For each group of training sizes (``;`` between groups), trains every (size, seed) cell of one task
and method twice: with ``fit_many`` (stacks of models, one vectorized run) and with ``fit`` one
cell at a time, same settings and steps, one torch thread, both paths warmed up first; each path runs
``--repeats`` times, interleaved, and the fastest run counts (this VM's timings vary by up to ~30%
from run to run). Prints wall and CPU times, the speed-ups, and the largest difference in final test
accuracy between the two paths (they follow the same path up to float rounding).

What bounds the speed-up: a training step of one model costs a fixed overhead (op dispatch, ~1.3 ms
for the modular transformer here) plus a cost per training row. A stack pays the dispatch once, but
for tiny sets its step is dominated by what grows with the number of models however few their rows:
a pass over every model's weights in each product and in AdamW (~3.4 MB of weights for 15 modular
transformers, read from L3, not L2: the products of a stack of 15 run 2x slower than the same
products timed alone), and evaluation, which is the same work on both paths (``--eval-points``; 5
evaluations of the test split are ~1 s of both runs for the modular transformer). Packing the rows
of different sizes without padding was tried and measured head to head: at most ~10% faster here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from baselines import fit_many, limit_threads
from compare.methods import make_learner
from tasks import parse_task

DEFAULT_SIZES = "2,4,8,16,32;8,16,32,64,128;64,128,256,512,1024"


def timed(run):
    """``run()``'s result, wall seconds and CPU seconds."""
    start, cpu = time.perf_counter(), time.process_time()
    out = run()
    return out, time.perf_counter() - start, time.process_time() - cpu


def compare(task, method: str, sizes: list[int], seeds: list[int], settings: dict, repeats: int) -> str:
    """One group: batched and one-by-one training of every (size, seed) cell; a line of figures."""
    cells = [(n, seed) for n in sizes for seed in seeds]
    splits = [task.train_split(n, seed) for n, seed in cells]
    test = task.test_split()
    template = make_learner(method, splits[0], **settings)

    def batched_run():
        return fit_many(template, splits, seeds=[s for _, s in cells], eval_sets={"test": test})

    def one_by_one_run():
        return [
            make_learner(method, split, random_state=seed, **settings).fit(
                split.X, split.y, eval_sets={"test": test}
            )
            for split, (_, seed) in zip(splits, cells, strict=True)
        ]

    runs = [(timed(batched_run), timed(one_by_one_run)) for _ in range(repeats)]
    together, batched, batched_cpu = min((r[0] for r in runs), key=lambda r: r[1])
    alone, one_by_one, one_by_one_cpu = min((r[1] for r in runs), key=lambda r: r[1])

    final = [a.history_["test_acc"][-1] for a in alone]
    diff = max(abs(a.history_["test_acc"][-1] - b) for a, b in zip(together, final, strict=True))
    batch = template.batch_size
    rows = sum(min(n, batch) if batch else n for n, _ in cells)
    return (
        f"{sizes[0]}..{sizes[-1]:<5} {rows:>6} {float(np.mean(final)):>6.3f} "
        f"{batched:>7.1f} {one_by_one:>7.1f} {one_by_one / batched:>5.1f}x "
        f"{batched_cpu:>7.1f} {one_by_one_cpu:>7.1f} {one_by_one_cpu / batched_cpu:>5.1f}x {diff:>9.4f}"
    )


def step_variants(task, method: str, sizes: list[int], seeds: list[int], steps: int) -> None:
    """The stacked training step of one group three ways, CPU ms per step: eager (what training
    runs), ``torch.compile`` (inductor; its compile time printed beside, wall and this thread's
    CPU, since the C++ compiler runs in child processes), and fused AdamW over one flat parameter
    buffer (parameters and gradients as views of two flat tensors: one tensor for the optimizer)."""
    from baselines.batched import StackedEngine
    from baselines.training import masked_loss, pad_stack

    cells = [(n, seed) for n in sizes for seed in seeds]
    splits = [task.train_split(n, seed) for n, seed in cells]
    learners = [make_learner(method, splits[0], random_state=seed, steps=1) for _, seed in cells]
    begun = [learner._begin(sp.X, sp.y, []) for learner, sp in zip(learners, splits, strict=True)]
    engine = StackedEngine([b[1] for b in begun])
    data = pad_stack([b[2] for b in begun])
    params = engine.parameters()

    def loss_of(X, R, T):
        loss, count = masked_loss(engine.logits(X, R), T)
        return (loss / count.clamp(min=1)).sum()

    def per_step(loss_fn, opt, zero) -> float:
        def step():
            zero()
            loss_fn(data.X, data.R, data.T).backward()
            opt.step()

        for _ in range(3):
            step()
        start = time.thread_time()
        for _ in range(steps):
            step()
        return (time.thread_time() - start) / steps * 1e3

    adamw = torch.optim.AdamW(params, lr=1e-3, fused=True)
    eager = per_step(loss_of, adamw, lambda: adamw.zero_grad(set_to_none=True))
    print(f"# step of a stack of {len(cells)} ({sizes[0]}..{sizes[-1]}): eager {eager:.2f} ms", flush=True)
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        compiled = torch.compile(loss_of)
        adamw.zero_grad(set_to_none=True)
        compiled(data.X, data.R, data.T).backward()
        built = f"compile {time.perf_counter() - wall:.1f} s wall, {time.thread_time() - cpu:.1f} s CPU here"
        fast = per_step(compiled, adamw, lambda: adamw.zero_grad(set_to_none=True))
        print(f"#   torch.compile: {fast:.2f} ms a step; {built}", flush=True)
    except Exception as exc:  # noqa: BLE001 - no C++ compiler, an unsupported op: say so and go on
        print(f"#   torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}")
    flat = torch.cat([p.detach().flatten() for p in params])
    grads = torch.zeros_like(flat)
    offset = 0
    for p in params:
        p.data, p.grad = (
            flat[offset : offset + p.numel()].view_as(p),
            grads[offset : offset + p.numel()].view_as(p),
        )
        offset += p.numel()
    whole = torch.nn.Parameter(flat)
    whole.grad = grads
    one = torch.optim.AdamW([whole], lr=1e-3, fused=True)
    flat_ms = per_step(loss_of, one, grads.zero_)
    again = per_step(loss_of, adamw, lambda: adamw.zero_grad(set_to_none=True))
    print(f"#   one flat buffer: {flat_ms:.2f} ms a step (eager again: {again:.2f} ms)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="modular:p=59,test_fraction=0.6")
    ap.add_argument("--method", default="transformer")
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="groups of training sizes, ';' between groups")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each path (interleaved); fastest counts")
    ap.add_argument(
        "--eval-points", type=int, default=5, help="test-set evaluations per model (cost the same either way)"
    )
    ap.add_argument(
        "--step-variants",
        action="store_true",
        help="time the first group's stacked step eager, compiled and with one flat buffer",
    )
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    limit_threads(args.threads)
    task = parse_task(args.task)
    groups = [[int(s) for s in group.split(",")] for group in args.sizes.split(";") if group.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = dict(steps=args.steps, eval_points=args.eval_points)
    first = task.train_split(groups[0][0], seeds[0])
    template = make_learner(args.method, first, **settings)
    print(
        f"# {task.spec} | {args.method} | {len(groups[0]) * len(seeds)} models a group ({len(seeds)} seeds), "
        f"{args.steps} steps, batch_size={template.batch_size}, {args.eval_points} evaluations of "
        f"{len(task.test_split().X)} test rows, threads={torch.get_num_threads()}"
    )
    # Warm up both paths (first calls pay one-off costs that would be charged to whichever runs first).
    fit_many(template.set_params(steps=2), [first, task.train_split(groups[0][-1], seeds[0])], seeds=[0, 1])
    make_learner(args.method, first, steps=2).fit(first.X, first.y)
    print("# sizes      rows/step  test acc | wall s: batched one-by-one ratio | CPU s: batched "
          "one-by-one ratio | max |test acc diff|")  # fmt: skip
    for sizes in groups:
        print(compare(task, args.method, sizes, seeds, settings, args.repeats), flush=True)
    if args.step_variants:
        step_variants(task, args.method, groups[0], seeds, args.steps)


if __name__ == "__main__":
    main()
