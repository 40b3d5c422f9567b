"""Stacking plans: on the CPU a stack pads its models to its largest batch, so sizes far apart train
apart; on a GPU every model of a method shares one stack. Either way each model learns what it
learns alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines import fit_many
from baselines.batched import OVERHEAD_ROWS, STACK_TOKENS, plan_stacks, row_tokens, stack_overhead
from compare.methods import make_learner
from tasks import parse_task


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=40),
    cap=st.none() | st.integers(1, 8),
    batch=st.none() | st.integers(1, 512),
)
def test_every_plan_covers_each_model_once(sizes, cap, batch):
    for overhead in (OVERHEAD_ROWS, float("inf")):
        stacks = plan_stacks(sizes, batch, cap, overhead)
        assert sorted(i for stack in stacks for i in stack) == list(range(len(sizes)))
        assert all(0 < len(stack) <= (cap or len(sizes)) for stack in stacks)
    # The GPU plan: as few stacks as the cap allows.
    assert len(plan_stacks(sizes, batch, cap, float("inf"))) == -(-len(sizes) // (cap or len(sizes)))


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=30),
    batch=st.none() | st.integers(1, 512),
    tokens=st.integers(1, 40),
)
def test_a_cpu_stack_keeps_within_the_token_cap_and_a_gpu_stack_does_not_need_to(sizes, batch, tokens):
    rows = [min(n, batch) if batch else n for n in sizes]
    stacks = plan_stacks(sizes, batch, None, OVERHEAD_ROWS, tokens)
    assert sorted(i for stack in stacks for i in stack) == list(range(len(sizes)))
    for stack in stacks:
        assert len(stack) == 1 or len(stack) * max(rows[i] for i in stack) * tokens <= STACK_TOKENS
    assert len(plan_stacks(sizes, batch, None, float("inf"), tokens)) == 1


def test_the_token_cap_splits_the_quick_presets_minibatched_stacks():
    # Induction transformers, minibatches of 64 rows of 16 tokens: 1,024 tokens a model, at most 4 a
    # stack, and the stacks even.
    assert row_tokens("transformer", 16, per_position=True) == 16
    assert [len(s) for s in plan_stacks([2048] * 9, 64, None, OVERHEAD_ROWS, 16)] == [3, 3, 3]
    # Modular transformers in full batches of 32 pairs (a b =): all 15 fit one cap.
    assert row_tokens("transformer", 2, per_position=False) == 3 and row_tokens("mlp", 2, False) == 1
    assert sum(len(s) for s in plan_stacks([32] * 15, None, None, OVERHEAD_ROWS, 3)) == 15
    assert len(plan_stacks([32] * 15, None, None, OVERHEAD_ROWS, 3)) == 1


def test_the_cpu_splits_sizes_far_apart_and_a_gpu_does_not():
    assert stack_overhead("cpu") == OVERHEAD_ROWS
    assert len(plan_stacks([2, 2, 4096, 4096], None, None, stack_overhead("cpu"))) == 2
    assert plan_stacks([2, 2, 4096, 4096], None, None, float("inf")) == [[0, 1, 2, 3]]


def test_one_stack_learns_what_each_model_learns_alone():
    task = parse_task("modular:p=11")
    splits = [task.train_split(n, seed) for n, seed in ((4, 0), (40, 1), (60, 2))]
    template = make_learner("mlp", task.test_split(), steps=30, d_mlp=32, eval_points=4)
    together = fit_many(template, splits, seeds=[0, 1, 2], max_models=None)
    # Force one stack, as on a GPU, by training the three as one group.
    from sklearn.base import clone

    from baselines.batched import StackedEngine
    from baselines.learners import train_group

    stacked = [clone(template).set_params(random_state=s) for s in (0, 1, 2)]
    train_group(stacked, [(sp.X, sp.y) for sp in splits], None, StackedEngine)
    for a, b, split in zip(together, stacked, splits, strict=True):
        alone = clone(template).set_params(random_state=a.random_state).fit(split.X, split.y)
        for other in (a, b):
            assert np.allclose(
                other.history_["train_loss"], alone.history_["train_loss"], rtol=1e-4, atol=1e-6
            )
            assert (other.predict(task.test_split().X) == alone.predict(task.test_split().X)).mean() > 0.99


def test_no_cuda_no_gpu_plan():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert stack_overhead("auto") == OVERHEAD_ROWS
