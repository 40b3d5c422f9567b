"""The text of ``dlps mechanisms`` says nothing the numbers do not support (issue 28 item 5): a head
is named for a pattern only above the stated score, one ablation is shown once, the generalization
step names the accuracy it needed, emergence appears only where it means something, and the two
LLC figures say why they differ."""

from __future__ import annotations

from mechanisms.text import HEAD_SCORE, describe


def induction_result(score: float, same_head: bool = True, threshold: float = 0.95) -> dict:
    scores = {"duplicate": 0.1, "copying": 0.1}
    heads = [{"layer": 0, "head": 0, "previous_token": 0.2, "induction": 0.01} | scores,
             {"layer": 0, "head": 1, "previous_token": 0.9, "induction": score} | scores]
    return {"task": "induction", "method": "transformer", "n": 100, "seed": 0, "analysis": "sequences",
            "accuracy": {"train": 1.0, "test": 0.9567}, "heads": heads,
            "previous_token_head": [0, 1], "induction_head": [0, 1] if same_head else [0, 0],
            "ablation": {"none": 0.95, "induction_head": 0.5, "previous_token_head": 0.5, "other_heads": 0.9},
            "progress": [{"step": 600}], "emergence_step": None, "generalization_step": 600,
            "generalization_threshold": threshold}


def test_a_head_with_a_low_induction_score_is_no_induction_head_and_one_ablation_shows_once():
    text = "\n".join(describe(induction_result(0.030)))
    assert f"induction head none (best [0, 1]: 0.030 < {HEAD_SCORE})" in text
    assert "previous-token head [0, 1] (score 0.900)" in text
    (ablation,) = [line for line in text.splitlines() if line.startswith("ablation")]
    assert ablation.count("0.500") == 1 and "head [0, 1] (best at both scores) 0.500" in ablation
    other = "\n".join(describe(induction_result(0.8, same_head=False)))
    assert "induction head none (best [0, 0]: 0.010 < 0.5)" in other  # its own score decides
    assert "best induction-score head [0, 0] 0.500  best previous-token-score head [0, 1] 0.500" in other


def test_the_generalization_step_names_the_threshold_it_used():
    (steps,) = [line for line in describe(induction_result(0.8)) if line.startswith("steps")]
    assert "generalization 600 (test ≥ 95%; 99% never reached)" in steps
    (steps,) = [line for line in describe(induction_result(0.8, threshold=0.99)) if line.startswith("steps")]
    assert "generalization 600 (test ≥ 99%)" in steps


def test_an_lstm_on_brackets_prints_no_emergence():
    result = induction_result(0.8) | {"heads": [], "depth": None, "generalization_threshold": 0.99}
    (steps,) = [line for line in describe(result) if line.startswith("steps")]
    assert "emergence" not in steps and "generalization 600" in steps
    assert "emergence never" in "\n".join(describe(induction_result(0.8)))  # a transformer: it applies


def test_the_llc_curve_says_why_it_differs_from_the_estimate():
    llc = {"mean": 47.71, "sd": 0.40, "epsilon": 3e-4, "nbeta": 233.0, "gamma": 100, "chains": 3,
           "draws": 300, "below_initial": 0.0}
    result = induction_result(0.8) | {"llc": llc, "llc_progress": [{"step": 1, "llc": 19.0},
                                                                   {"step": 1500, "llc": 27.3}]}
    (line,) = [line for line in describe(result) if line.startswith("llc")]
    assert "47.71 ± 0.40" in line and "3 chains × 300 draws" in line
    assert "1 chain × 50 draws per checkpoint, a cheaper estimate than the one above" in line
