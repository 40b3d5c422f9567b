"""The presets of the grid: ready task × method × size × seed products, each choice beside the
measurement that justified it."""

from __future__ import annotations

import math

from compare.grid.cells import GridPart


def geometric(start: int, stop: int, factor: float = 2.0) -> tuple[int, ...]:
    """``start, start*factor, ...`` up to ``stop`` (rounded, deduplicated)."""
    count = int(math.floor(math.log(stop / start, factor) + 1e-9)) + 1
    return tuple(sorted({int(round(start * factor**i)) for i in range(count)}))


#: Nanda et al. (2023)'s grokking transformer and optimizer (full batch; thousands of steps).
NANDA = ("transformer:n_layers=1,d_model=128,n_heads=4,d_mlp=512,act=relu,normalization=false,use_bias=false,"
         "lr=0.001,weight_decay=1.0,beta1=0.9,beta2=0.98,batch_size=none,warmup_steps=10,steps=25000,"
         "eval_points=100")

#: quick: minutes on a 2-core CPU. Every family with the synthesizer, one network (steps cut to fit:
#: the transformer groks addition mod 59 within 1,500 steps from 1,392 of the 1,740 pairs of its pool
#: and not from 1,160 (minibatches of 256: test accuracy 0.29-0.46 at 1,160 for 3 seeds, >= 0.993 at
#: 1,392 and 1,740, 99% at steps 695-1,500; full batches cost 7x more a step at the pool and grokked
#: no earlier), so it is trained from n=512 up, around the threshold (at n=128 it only memorizes, as at
#: 512: test accuracy ~0.03); the LSTM learns Dyck-1 in about a hundred steps (300-step runs: test
#: accuracy 0.99-1.0 from step 67-105 on at n >= 128, all seeds; so 150 steps, and 10 evaluations:
#: 31 took 40% of its training time); induction uses a small
#: vocabulary and short sequences so that the transformer reaches ~98% at n=2048 in 600 steps, with
#: minibatches of 64 as well as of 128 (0.97-0.99 at 2048, 0.85-0.91 at 512, 3 seeds) at half the
#: cost, and 10 evaluations instead of 40, which change nothing it learns; it is trained from n=128
#: up (at 128 it scores ~0.25, at 8 and 32 less), and cheaper settings cost accuracy (400 steps:
#: 0.71-0.87 at 2048; d_model 32: 0.59-0.69; minibatches of 32: 0.89-0.96) and the lookup table; 3
#: seeds. The synthesizer's Dyck-1 cells get a
#: deterministic budget of 10^6 candidates (the most any needed was ~286k; a time limit would make
#: results depend on the machine).
#: paper: the full comparison with paper-like settings (Nanda's grokking transformer at p=113, every
#: learner, sizes 4..4096, 5 seeds): hours on a CPU, a GPU helps the networks.
QUICK_INDUCTION = "induction:d_vocab=16,seq_len=16,min_seg=3,max_seg=6,ood_len=32"
QUICK_INDUCTION_NET = "transformer:steps=600,batch_size=64,eval_points=10"
QUICK_DYCK1_NET = "lstm:steps=150,eval_points=10"
#: The quick preset's modular transformer keeps the settings its sizes were measured with (the defaults
#: of before issue 31, written out, so its cells keep their keys): minibatches of 256 are ~5x cheaper a
#: step than the full batches the fixed-shape defaults now use (lr 0.01, wd 3, which at minibatches of
#: 256 reach 99% in none of 3 seeds within 2,000 steps), and 1,500 of them keep the preset within minutes.
QUICK_MODULAR_NET = "transformer:batch_size=256,lr=0.003,weight_decay=1.0,steps=1500"
#: science: exactly the grid ``dlps report`` needs, with alignment and simplicity (PRESET_ANALYSES): the
#: cross-task study —
#: eight modular operations at p = 23 whose MAP programs span 10 to 31 bits (the synthesizer finds each
#: in under a second; p = 23 keeps 1,500-step transformers to seconds a cell on a CPU), 70% of the pairs
#: as the training pool so that n@99 can be reached, sizes up to the smallest pool (x/y: 354) — and
#: the quick preset's bracket and induction parts (OOD splits, sequence mechanisms, alignment).
SCIENCE_OPS = ("x+y", "x-y", "x/y", "x^2+y", "x^2+y^2", "x^3+xy", "x^2+xy+y^2", "x^3+xy^2+y")
PRESETS: dict[str, tuple[GridPart, ...]] = {
    "quick": (
        GridPart(("modular:op=x+y,p=59",), ("synth", "lookup"), (2, 8, 32, 128, 512, 1160, 1392, 1740)),
        GridPart(("modular:op=x+y,p=59",), (QUICK_MODULAR_NET,), (512, 1160, 1392, 1740)),
        GridPart(("brackets:kind=dyck1",), ("synth:max_candidates=1000000", QUICK_DYCK1_NET, "lookup"),
                 (2, 8, 32, 128, 512)),
        GridPart((QUICK_INDUCTION,), ("synth", "lookup"), (8, 32, 128, 512, 2048)),
        GridPart((QUICK_INDUCTION,), (QUICK_INDUCTION_NET,), (128, 512, 2048)),
    ),
    "science": (
        GridPart(tuple(f"modular:op={op},p=23,test_fraction=0.3" for op in SCIENCE_OPS),
                 ("synth", "transformer", "lookup"), (40, 80, 160, 240, 340)),
        # Networks that do generalize on addition within their steps (the quick preset's sizes past its
        # threshold): the p = 23 ones do not, and the emergence-before-generalization claim needs them.
        GridPart(("modular:op=x+y,p=59",), (QUICK_MODULAR_NET,), (1392, 1740)),
        GridPart(("brackets:kind=dyck1",), ("synth:max_candidates=1000000", "lstm:steps=300", "lookup"),
                 (2, 8, 32, 128, 512)),
        GridPart((QUICK_INDUCTION,), ("synth", "transformer:steps=600", "lookup"), (8, 32, 128, 512, 2048)),
    ),
    "paper": (
        GridPart(
            tuple(f"modular:op={op},p=113" for op in ("x+y", "x-y", "x*y", "x/y", "x^2+y^2", "x^3+xy")),
            ("synth", NANDA, "mlp", "lstm", "lookup", "knn", "logistic", "gbt"),
            (*geometric(4, 4096), 3830),  # 3,830 pairs: Nanda's 30% of 113^2
            (0, 1, 2, 3, 4),
        ),
        GridPart(
            ("brackets:kind=dyck1", "brackets:kind=dyck2"),
            ("synth", "lstm", "transformer", "mlp", "lookup", "knn", "logistic", "gbt"),
            geometric(4, 4096),
            (0, 1, 2, 3, 4),
        ),
        GridPart(
            ("induction",),
            ("synth", "transformer", "lstm", "lookup", "knn", "logistic", "gbt"),
            geometric(4, 4096),
            (0, 1, 2, 3, 4),
        ),
    ),
}
#: The analyses a preset's cells run besides scoring (``dlps run --align`` / ``--simplicity`` add them to
#: any grid): the science preset's are what ``dlps report`` reads; the quick one stays quick without them.
PRESET_ANALYSES: dict[str, tuple[str, ...]] = {"science": ("align", "simplicity")}
