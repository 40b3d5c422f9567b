"""Head scores and ablations, checked on a 2-layer attention-only transformer built by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from baselines import LSTMLearner, MLPLearner, TransformerLearner
from baselines.hooks import run_with_hooks
from baselines.transformer import Transformer, TransformerConfig
from mechanisms.ablation import ablation_hooks, ablation_table, masked_accuracy
from mechanisms.heads import (
    copying_scores,
    head_scores,
    head_table,
    pattern_matrices,
    pattern_score,
    repeated_random_tokens,
)
from mechanisms.plots_sequences import write_plots
from mechanisms.sequences import analyse, milestones, progress
from tasks import parse_task

V, L = 16, 16
PREV, INDUCTION, IDLE = (0, 0), (1, 0), [(0, 1), (1, 1)]


def planted_induction(vocab: int = V, n_ctx: int = L, sharp: float = 30.0) -> Transformer:
    """Layer 0 head 0 copies the previous token into its own subspace (attention by position);
    layer 1 head 0 matches the current token against that subspace (K-composition) and copies the
    matched key's token to the output. Heads (0, 1) and (1, 1) write nothing.

    Residual stream: [token one-hot | position one-hot | previous token | output]. Position 0 carries
    its own token as "previous" (it can only attend to itself), so the induction head's key at
    position 0 is pushed down through a query bias.
    """
    torch.manual_seed(0)
    d_head = max(vocab, n_ctx) + 1
    tok, pos, prev, out = 0, vocab, vocab + n_ctx, 2 * vocab + n_ctx
    cfg = TransformerConfig(
        d_vocab=vocab, d_vocab_out=vocab, n_ctx=n_ctx, d_model=3 * vocab + n_ctx, n_layers=2, n_heads=2,
        d_head=d_head, attn_only=True, positional="learned",
    )  # fmt: skip
    model = Transformer(cfg, torch.Generator().manual_seed(0))
    s = sharp * math.sqrt(d_head)  # scores are divided by sqrt(d_head): a logit gap of `sharp`
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        for p in range(n_ctx):
            model.W_pos[p, pos + p] = 1
            a0.W_Q[0, pos + p, p] = s
            a0.W_K[0, pos + p, p + 1] = 1  # key p answers query p + 1
        for t in range(vocab):
            model.W_E[t, tok + t] = 1
            a0.W_V[0, tok + t, t] = 1
            a0.W_O[0, t, prev + t] = 1
            a1.W_Q[0, tok + t, t] = s
            a1.W_K[0, prev + t, t] = 1
            a1.W_V[0, tok + t, t] = 1
            a1.W_O[0, t, out + t] = 1
            model.W_U[out + t, t] = 10
        a1.b_Q[0, d_head - 1] = 1
        a1.W_K[0, pos, d_head - 1] = -s
    return model.eval()


@pytest.fixture(scope="module")
def induction_data():
    task = parse_task(f"induction:d_vocab={V},seq_len={L},min_seg=3,max_seg=6,n_unseen=4,n_test=400")
    test = task.test_split()
    return test.X, np.where(test.mask, test.y, -1)


# --- pattern matrices and the score -----------------------------------------------------------------


@given(
    arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(1, 12)), elements=st.integers(0, 4)),
    st.integers(0, 12),
)
def test_pattern_matrices_follow_their_definitions(X, n_pad):
    X = X.copy()
    X[:, X.shape[1] - min(n_pad, X.shape[1]) :] = 9  # right padding
    P = pattern_matrices(X, pad_id=9)
    n, k = X.shape
    for r in range(n):
        for i in range(k):
            for j in range(k):
                real = X[r, i] != 9 and X[r, j] != 9
                assert P["previous_token"][r, i, j] == (real and j == i - 1)
                assert P["duplicate"][r, i, j] == (real and j < i and X[r, j] == X[r, i])
                shifted = j >= 1 and X[r, j - 1] == X[r, i] and j - 1 < i
                assert P["induction"][r, i, j] == (real and shifted)


@given(arrays(np.int64, st.tuples(st.integers(1, 3), st.integers(2, 10)), elements=st.integers(0, 3)))
def test_attention_on_the_pattern_alone_scores_one(X):
    P = pattern_matrices(X)
    for name, pattern in P.items():
        A = pattern[:, None].astype(float)
        A = np.where(A.sum(-1, keepdims=True) > 0, A, 1.0)  # rows without the pattern: anywhere
        A = np.tril(A) / np.tril(A).sum(-1, keepdims=True)
        score = pattern_score(A, pattern)[0]
        pattern_rows = pattern[..., 1:].any()
        assert (math.isnan(score) and not pattern_rows) or score == pytest.approx(1.0), name


def test_score_leaves_out_the_first_position_and_padding():
    X = np.array([[1, 2, 1, 2, 7, 7]])
    P = pattern_matrices(X, pad_id=7)["induction"]  # queries 2, 3 → keys 1, 2
    A = np.zeros((1, 1, 6, 6))
    A[0, 0, 2, 0], A[0, 0, 2, 1] = 0.5, 0.5  # half on the excluded first position
    A[0, 0, 3, 2], A[0, 0, 3, 0] = 0.5, 0.5
    A[0, 0, 4, 4] = A[0, 0, 5, 5] = 1.0  # pad queries do not count
    assert pattern_score(A, P, X != 7)[0] == pytest.approx(1.0)
    A[0, 0, 3, 2], A[0, 0, 3, 1] = 0.25, 0.25
    assert pattern_score(A, P, X != 7)[0] == pytest.approx(0.75)


def test_repeated_random_tokens_are_seeded_halves_of_distinct_tokens():
    R = repeated_random_tokens(np.arange(10), 50, 6, seed=3)
    assert R.shape == (50, 12)
    assert np.array_equal(R[:, :6], R[:, 6:])
    assert all(len(set(row[:6])) == 6 for row in R)
    assert np.array_equal(R, repeated_random_tokens(np.arange(10), 50, 6, seed=3))
    assert not np.array_equal(R, repeated_random_tokens(np.arange(10), 50, 6, seed=4))


# --- the planted model ------------------------------------------------------------------------------


def test_planted_heads_score_one_on_their_patterns(induction_data):
    X, _ = induction_data
    model = planted_induction()
    table = head_table(model, X, n_random=100, seed=0)
    assert table["previous_token_head"] == list(PREV)
    assert table["induction_head"] == list(INDUCTION)
    by_head = {(h["layer"], h["head"]): h for h in table["heads"]}
    assert by_head[PREV]["previous_token"] > 0.99 and by_head[PREV]["test"]["previous_token"] > 0.99
    assert by_head[INDUCTION]["induction"] > 0.99 and by_head[INDUCTION]["test"]["induction"] > 0.99
    assert by_head[INDUCTION]["previous_token"] < 0.3
    assert by_head[PREV]["induction"] < 0.01
    # Only the induction head's OV circuit reaches the unembedding, and it copies every token.
    assert by_head[INDUCTION]["copying"] == 1.0
    assert all(by_head[h]["copying"] == 0.0 for h in [PREV, *IDLE])
    json.dumps(table)


def test_head_scores_on_a_single_pattern_head_random_data():
    model = planted_induction()
    R = repeated_random_tokens(np.arange(V), 20, 8, seed=1)
    scores = head_scores(model, R)
    assert scores["previous_token"][PREV] > 0.99
    assert scores["induction"][INDUCTION] > 0.99
    assert scores["duplicate"][INDUCTION] < 0.01


def test_copying_is_undefined_where_classes_are_not_tokens():
    model = planted_induction()
    assert copying_scores(model, np.arange(V + 3)) is None
    assert copying_scores(model, np.array([2])) is None


def test_ablating_either_head_collapses_in_context_accuracy(induction_data):
    X, T = induction_data
    model = planted_induction()
    table = ablation_table(model, X, T, None, list(INDUCTION), list(PREV))
    assert table["none"] == 1.0
    for mode in ("mean", "zero"):
        result = table if mode == "mean" else table["zero"]
        assert result["induction_head"] < 0.2, mode
        assert result["previous_token_head"] < 0.2, mode
    # The heads that write nothing: ablating them changes no prediction at all.
    assert table["other_heads"] == table["none"] == table["zero"]["other_heads"]
    for row in table["per_head"]:
        if (row["layer"], row["head"]) in IDLE:
            assert row["zero"] == row["mean"] == table["none"]
    # A whole layer holds one working head here: ablating the layer is ablating that head.
    by_layer = {row["layer"]: row for row in table["per_layer"]}
    assert by_layer[1]["mean"] == table["induction_head"]
    assert by_layer[0]["zero"] == table["zero"]["previous_token_head"]


def test_ablating_a_head_that_does_nothing_changes_no_logit(induction_data):
    X, _ = induction_data
    model = planted_induction()
    tokens = torch.as_tensor(X[:50])
    with torch.no_grad():
        base = model(tokens)
        for layer, head in IDLE:
            ablated = run_with_hooks(model, tokens, fwd_hooks=ablation_hooks([(layer, head)], "zero"))
            assert torch.equal(base, ablated)
        broken = run_with_hooks(model, tokens, fwd_hooks=ablation_hooks([INDUCTION], "zero"))
    assert not torch.equal(base, broken)


def test_masked_accuracy_counts_scored_targets_only(induction_data):
    X, T = induction_data
    model = planted_induction()
    wrong = np.where(T >= 0, (T + 1) % V, -1)  # every scored target wrong
    assert masked_accuracy(model, X, wrong) == 0.0
    assert masked_accuracy(model, X, T) == 1.0
    half = T.copy()
    half[::2] = wrong[::2]
    share = (T[1::2] >= 0).sum() / (T >= 0).sum()
    assert masked_accuracy(model, X, half) == pytest.approx(share)


# --- the entry point --------------------------------------------------------------------------------


def _small_induction_learner(n_layers: int = 2, steps: int = 40):
    task = parse_task("induction:d_vocab=16,seq_len=16,min_seg=3,max_seg=6,n_unseen=4,n_test=200")
    train = task.train_split(256, 0)
    learner = TransformerLearner(
        n_layers=n_layers, attn_only=True, d_model=32, n_heads=2, positional="relative", lr=3e-3,
        weight_decay=0.01, batch_size=64, steps=steps, d_vocab=task.d_vocab, n_classes=task.d_vocab,
        checkpoint_steps=(0, steps // 2, steps), eval_points=2, random_state=0, device="cpu",
    )  # fmt: skip
    torch.manual_seed(0)
    learner.fit(train.X, train.y)
    return learner, task, train


def test_analyse_reports_the_issue_keys_and_one_progress_entry_per_checkpoint(tmp_path):
    learner, task, train = _small_induction_learner()
    result = analyse(learner, task, train=train, n_random=50)
    for key in ("heads", "previous_token_head", "induction_head", "ablation", "progress"):
        assert key in result
    assert "depth" not in result
    assert len(result["heads"]) == 4
    assert set(result["heads"][0]) >= {"layer", "head", "previous_token", "duplicate", "induction", "copying"}
    assert set(result["ablation"]) >= {"none", "induction_head", "previous_token_head", "other_heads"}
    assert [e["step"] for e in result["progress"]] == [0, 20, 40]
    assert all(0.0 <= e["induction_score"] <= 1.0 for e in result["progress"])
    assert result["generalization_threshold"] in (0.99, 0.95)
    assert result["ablation"]["none"] == pytest.approx(result["progress"][-1]["test_accuracy"])
    json.dumps(result)
    paths = write_plots(learner, result, task.test_split().X[:1], tmp_path)
    assert sorted(p.name for p in paths) == ["attention.png", "head_scores.png", "progress.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_progress_is_the_same_when_called_alone():
    learner, task, train = _small_induction_learner(n_layers=1, steps=20)
    alone = progress(learner, task, train=train, n_random=100)
    within = analyse(learner, task, train=train)["progress"]
    assert alone == within


def test_milestones_use_the_fixed_thresholds():
    entries = [
        {"step": 0, "test_accuracy": 0.1, "induction_score": 0.1},
        {"step": 10, "test_accuracy": 0.5, "induction_score": 0.6},
        {"step": 20, "test_accuracy": 0.96, "induction_score": 0.9},
        {"step": 30, "test_accuracy": 0.97, "induction_score": 0.9},
    ]
    assert milestones(entries, per_position=True) == {
        "emergence_step": 10, "generalization_step": 20, "generalization_threshold": 0.95,
    }  # fmt: skip
    assert milestones(entries, per_position=False)["generalization_step"] is None
    entries.append({"step": 40, "test_accuracy": 0.995, "induction_score": 0.9})
    assert milestones(entries, per_position=True)["generalization_step"] == 40
    assert milestones([{"step": 0, "test_accuracy": 1.0}], per_position=True)["emergence_step"] is None


def test_learners_without_heads_or_depth_are_refused_in_one_line():
    brackets = parse_task("brackets:kind=dyck1,n_test=50,max_len=12")
    train = brackets.train_split(64, 0)
    mlp = MLPLearner(steps=2, d_vocab=3, n_classes=2, pad_id=2, device="cpu").fit(train.X, train.y)
    with pytest.raises(ValueError, match="cover") as err:
        analyse(mlp, brackets, train=train)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="cover"):
        analyse(object(), brackets, train=train)
    task = parse_task("induction:d_vocab=16,seq_len=16,min_seg=3,max_seg=6,n_unseen=4,n_test=50")
    itrain = task.train_split(64, 0)
    lstm = LSTMLearner(steps=2, d_vocab=16, n_classes=16, device="cpu").fit(itrain.X, itrain.y)
    with pytest.raises(ValueError, match="LSTM"):
        analyse(lstm, task, train=itrain)
