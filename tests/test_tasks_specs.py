"""Bad task specs, for every family: a SpecError whose one line names the value and what is accepted."""

import numpy as np
import pytest

from tasks import SpecError, parse_task


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        # modular
        ("modular:op=x%y", ["'x%y'", "x+y", "x^3+xy^2+y"]),
        ("modular:p=91", ["p=91", "prime"]),
        ("modular:p=2", ["p=2", "prime"]),
        ("modular:p=4099", ["p=4099", "2048"]),
        ("modular:test_fraction=1.5", ["test_fraction=1.5", "(0, 1)"]),
        ("modular:p=3,test_fraction=0.01", ["test_fraction=0.01", "empty test split"]),
        ("modular:p=abc", ["p='abc'", "int"]),
        ("modular:q=3", ["'q'", "op, p, test_fraction"]),
        # brackets
        ("brackets:kind=dyck3", ["'dyck3'", "dyck1, dyck2"]),
        ("brackets:max_len=3", ["max_len=3", "[4, 1024]"]),
        ("brackets:min_len=1", ["min_len=1", "[2, max_len]"]),
        ("brackets:max_len=16,min_len=17", ["min_len=17"]),
        ("brackets:ood_len=17", ["ood_len=17", "max_len+2"]),
        ("brackets:max_len=8", ["n_test=1000", "lower n_test"]),
        ("brackets:n_test=1", ["n_test=1", ">= 2"]),
        ("brackets:test_fraction=0", ["test_fraction=0.0", "(0, 1)"]),
        ("brackets:max_len=x", ["max_len='x'", "int"]),
        # induction
        ("induction:min_seg=1", ["min_seg=1", "2 <= min_seg <= max_seg"]),
        ("induction:seq_len=20", ["seq_len=20", "[2 * max_seg = 24, 4096]"]),
        ("induction:d_vocab=16", ["d_vocab=16", "[max_seg + n_unseen + 1 = 21, 65536]"]),
        ("induction:n_unseen=1", ["n_unseen=1", ">= 2"]),
        ("induction:ood_len=32", ["ood_len=32", "(seq_len, 8192]"]),
        ("induction:n_test=0", ["n_test=0", ">= 1"]),
        ("induction:vocab=5", ["'vocab'", "d_vocab, seq_len"]),
        # any family
        ("sorting:n=3", ["unknown task family 'sorting'", "brackets, examples, induction, modular"]),
        (":p=3", ["empty family name"]),
        ("modular:p=3,p=5", ["'p' given twice"]),
    ],
)
def test_bad_specs_name_the_value_and_what_is_accepted(spec, words):
    with pytest.raises(SpecError) as error:
        parse_task(spec)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, word


@pytest.mark.parametrize(
    "spec",
    [
        "modular:p=7",
        "brackets:kind=dyck1,max_len=12,n_test=40",
        "induction:d_vocab=16,seq_len=16,min_seg=3,max_seg=6,ood_len=32",
    ],
)
def test_test_and_ood_splits_are_drawn_once_and_handed_out_as_copies(spec):
    """An equal task gives an equal split, each call its own arrays: changing one changes no later one."""
    task = parse_task(spec)
    for draw in [task.test_split, *(lambda name=name: task.ood_split(name) for name in task.ood_names)]:
        first = draw()
        kept = first.X.copy(), first.y.copy()
        first.X[:] = 0
        first.y[...] = 0
        again = draw()
        assert again.X is not first.X
        assert np.array_equal(again.X, kept[0]) and np.array_equal(again.y, kept[1])
    same = parse_task(spec).test_split()
    assert np.array_equal(same.X, task.test_split().X)
    for name in task.ood_names:  # by keyword too
        assert np.array_equal(task.ood_split(name=name).X, task.ood_split(name).X)
