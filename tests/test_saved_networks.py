"""Saved networks and output files (issue 29 items 1, 2, 3, 5, 7, 8, 10, 11, 12; issue 27 item 5):
atomic writes that never follow a planted link or leave an empty file, existing files replaced only
with --force, every malformed or crafted checkpoint refused in one line naming the file and the
field before anything is built, options that cannot apply together refused, strict JSON."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from baselines.checkpoint_check import MAX_SIZE
from baselines.checkpoints import load_learner, save_learner
from baselines.files import write_atomically
from cli import app
from compare.output import json_text

runner = CliRunner()
TASK = "modular:p=11,test_fraction=0.4"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """One small saved network (mlp on x+y mod 11), shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("saved") / "net"
    result = runner.invoke(app, ["train", TASK, "--method", "mlp", "--n", "40", "--steps", "40",
                                 "--save", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def one_line_exit_2(args: list[str], *words: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def payload_of(saved: Path) -> dict:
    return torch.load(saved / "model.pt", weights_only=True)


def crafted(tmp_path: Path, saved: Path, change) -> Path:
    """A copy of the saved network with ``change(payload)`` applied, in its own folder."""
    payload = payload_of(saved)
    change(payload)
    folder = tmp_path / "crafted"
    folder.mkdir(exist_ok=True)
    torch.save(payload, folder / "model.pt")
    return folder


# --- item 1: no write through a planted symlink; item 4: no 0-byte file ------------------------------


def test_a_planted_symlink_is_never_written_through(tmp_path, saved):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "model.pt.tmp").symlink_to(victim)  # the old fixed temporary name
    save_learner(load_learner(saved), folder, meta={"task": TASK, "n": 40, "seed": 0})
    assert victim.read_text() == "precious"
    assert not (folder / "model.pt").is_symlink() and load_learner(folder).meta_["n"] == 40
    (folder / "model.pt").unlink()
    (folder / "model.pt").symlink_to(victim)  # a link at the target itself, replaced with --force
    result = runner.invoke(app, ["train", TASK, "--method", "mlp", "--n", "20", "--steps", "5",
                                 "--save", str(folder), "--force"])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious" and not (folder / "model.pt").is_symlink()


def test_a_failed_write_leaves_the_old_file_and_no_empty_one(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old")

    def full_disk(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_atomically(target, full_disk)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["report.md"]
    with pytest.raises(OSError):
        write_atomically(tmp_path / "new.png", full_disk)
    assert os.listdir(tmp_path) == ["report.md"]  # no 0-byte PNG, no temporary file


def test_a_save_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    def full_disk(payload, fh, *args, **kwargs):
        fh.write(b"x" * 64)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    stderr = one_line_exit_2(["train", TASK, "--method", "mlp", "--n", "20", "--steps", "5", "--save",
                              str(tmp_path / "net")], "No space left on device", "nothing was written")
    assert "net" in stderr and os.listdir(tmp_path / "net") == []


# --- item 7: existing files replaced only with --force; item 10: long names; --out '' ---------------


def test_existing_files_are_replaced_only_with_force(tmp_path, saved, monkeypatch):
    folder = tmp_path / "net"
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"mine")
    args = ["train", TASK, "--method", "mlp", "--n", "20", "--steps", "5", "--save", str(folder)]
    one_line_exit_2(args, "model.pt exists", "--force")
    assert (folder / "model.pt").read_bytes() == b"mine"
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "neurons.png").write_bytes(b"mine")
    monkeypatch.setattr("baselines.learners.NeuralLearner.fit", lambda *a, **k: pytest.fail("trained"))
    one_line_exit_2(["mechanisms", TASK, "--method", "mlp", "--plots", str(tmp_path / "plots")],
                    "neurons.png exists")  # refused before any training
    one_line_exit_2(["train", TASK, "--method", "mlp", "--n", "20", "--plot",
                     str(tmp_path / "plots" / "neurons.png")], "neurons.png exists")
    monkeypatch.undo()
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert load_learner(folder).meta_["n"] == 20


def test_report_refuses_an_empty_folder_name_and_an_existing_report(tmp_path):
    one_line_exit_2(["report", "--store", str(tmp_path / "s.sqlite"), "--out", ""], "give a folder name")
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "report.md").write_text("mine")
    one_line_exit_2(["report", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "rep")],
                    "report.md exists", "--force")
    assert (tmp_path / "rep" / "report.md").read_text() == "mine"


@pytest.mark.parametrize("option", ["--save", "--plots"])
def test_a_folder_name_too_long_is_one_line(tmp_path, option):
    one_line_exit_2(["mechanisms", TASK, "--method", "mlp", option, str(tmp_path / ("d" * 300))],
                    "File name too long")


def test_train_plot_into_an_unwritable_place_stops_before_training(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setattr("baselines.learners.NeuralLearner.fit", lambda *a, **k: pytest.fail("trained"))
    one_line_exit_2(["train", TASK, "--method", "mlp", "--n", "20", "--plot",
                     str(tmp_path / "file" / "c.png")], "is a file, not a folder")


# --- item 8: options that cannot apply together --------------------------------------------------


@pytest.mark.parametrize("extra, words", [
    (["--save", "OUT"], ["--save cannot apply with --from"]),
    (["--method", "transformer"], ["--method cannot apply with --from"]),
    (["--steps", "5"], ["--steps cannot apply with --from"]),
    (["--n", "30"], ["--n cannot apply with --from", "n=40"]),
    (["--seed", "3"], ["--seed cannot apply with --from", "seed=0"]),
])
def test_training_options_with_from_are_refused_naming_both(saved, extra, words):
    one_line_exit_2(["mechanisms", "--from", str(saved), *extra], *words)


def test_align_seed_with_from_and_a_negative_seed_are_refused_before_work(saved):
    one_line_exit_2(["align", "--from", str(saved), "--seed", "1"], "--seed cannot apply with --from")
    one_line_exit_2(["align", TASK, "--seed", "-1"], "--seed must be >= 0")


# --- items 2, 3, 5, 11, 12; issue 27 item 5: malformed and crafted checkpoints ----------------------


def test_a_flipped_bit_is_found_by_the_checksums(tmp_path, saved):
    data = bytearray((saved / "model.pt").read_bytes())
    with zipfile.ZipFile(saved / "model.pt") as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)  # the largest tensor
    offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    data[offset] ^= 0x10
    (tmp_path / "model.pt").write_bytes(bytes(data))
    one_line_exit_2(["mechanisms", "--from", str(tmp_path), "--format", "json"], "is corrupt", "checksum")


def test_a_huge_config_is_refused_before_anything_is_built(tmp_path, saved):
    def huge(payload):
        payload["config"]["d_mlp"] = 32768
        payload["params"]["d_mlp"] = 32768

    one_line_exit_2(["mechanisms", "--from", str(crafted(tmp_path, saved, huge))],
                    "state_dict.", "the config gives (32768")
    too_big = crafted(tmp_path, saved, lambda p: p["config"].update(d_mlp=MAX_SIZE + 1))
    one_line_exit_2(["mechanisms", "--from", str(too_big)], "config.d_mlp", f"[0, {MAX_SIZE}]")


def _set(path: str, value):
    def change(payload):
        *parents, key = path.split(".")
        target = payload
        for part in parents:
            target = target[part]
        if value is KeyError:
            del target[key]
        else:
            target[key] = value
    return change


MALFORMED = [
    (_set("version", "1"), ["version='1'"]),
    (_set("version", 99), ["newer dlps"]),
    (_set("meta", "oops"), ["field meta must be a mapping"]),
    (_set("meta.n", "40"), ["meta.n='40'"]),
    (_set("meta.n", -5), ["meta.n=-5"]),
    (_set("meta.n", 10**18), ["meta.n=1000000000000000000"]),
    (_set("meta.seed", 10**30), ["meta.seed=1000000000000000000000000000000"]),
    (_set("meta.task", "modular:p=13,test_fraction=0.4"), ["token id", "reads ids below 11"]),
    (_set("meta.task", "nonsense:x=1"), ["meta.task"]),
    (_set("meta.extra", 1), ["meta.extra is not a field"]),
    (_set("state_dict", KeyError), ["missing field(s) state_dict"]),
    (_set("surprise", 1), ["unknown field(s) surprise"]),
    (_set("method", "knn"), ["method='knn' is not a network method"]),
    (_set("params.nonsense", 1), ["params.nonsense is not a parameter"]),
    (_set("params.steps", "many"), ["params:"]),
    (_set("config.d_embed", 7), ["config.d_embed=7 does not match"]),
    (_set("config.d_embed", "wide"), ["config.d_embed='wide' is not a int"]),
    (_set("fitted.d_vocab_", 7), ["config.d_vocab=11 does not match"]),
    (_set("fitted.per_position_", 1), ["fitted.per_position_"]),
    (_set("history", [1, 2]), ["field history must be a mapping"]),
    (_set("checkpoints.notastep", {}), ["step 'notastep' is not a step"]),
]


@pytest.mark.parametrize("change, words", MALFORMED)
def test_malformed_checkpoints_are_one_line_naming_the_file_and_field(tmp_path, saved, change, words):
    folder = crafted(tmp_path, saved, change)
    one_line_exit_2(["mechanisms", "--from", str(folder)], str(folder), *words)


@pytest.mark.parametrize("where", ["state_dict", "checkpoints"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, saved, where, bad):
    def poison(payload):
        state = payload[where] if where == "state_dict" else next(iter(payload[where].values()))
        next(iter(state.values())).view(-1)[0] = bad

    one_line_exit_2(["mechanisms", "--from", str(crafted(tmp_path, saved, poison))], "NaN or infinite")


def test_wrong_shapes_are_refused(tmp_path, saved):
    def widen(payload):
        name = next(iter(payload["state_dict"]))
        payload["state_dict"][name] = torch.zeros(3, 3)

    one_line_exit_2(["mechanisms", "--from", str(crafted(tmp_path, saved, widen))], "the config gives")


@pytest.mark.parametrize("content", [b"hello, this is text\n", b"", b"PK\x03\x04garbage"])
def test_a_model_pt_that_is_not_a_checkpoint(tmp_path, content):
    (tmp_path / "model.pt").write_bytes(content)
    one_line_exit_2(["mechanisms", "--from", str(tmp_path)], "not a dlps checkpoint")


def test_a_system_text_file_as_from(tmp_path):
    one_line_exit_2(["align", "--from", "/etc/passwd"], "not a dlps checkpoint")


def test_a_task_spec_in_a_checkpoint_never_opens_a_file_the_user_did_not_name(tmp_path, saved):
    secret = tmp_path / "SECRET.jsonl"
    secret.write_text("the first line of a secret\n")
    folder = crafted(tmp_path, saved, _set("meta.task", f"examples:train={secret}"))
    for command in ("align", "mechanisms"):
        stderr = one_line_exit_2([command, "--from", str(folder)], "reads files", "give the same task spec")
        assert "first line of a secret" not in stderr


def test_an_examples_file_changed_since_training_is_one_line(tmp_path):
    data = tmp_path / "d.jsonl"
    pairs = [(a, b) for a in range(5) for b in range(5)]
    data.write_text("".join(json.dumps({"x": [a, b], "y": (a + b) % 5}) + "\n" for a, b in pairs))
    spec = f"examples:train={data}"
    result = runner.invoke(app, ["train", spec, "--method", "mlp", "--n", "15", "--steps", "5",
                                 "--save", str(tmp_path / "net")])
    assert result.exit_code == 0, result.output
    data.write_text("".join(json.dumps({"x": [a, b], "y": 9}) + "\n" for a, b in pairs))
    one_line_exit_2(["mechanisms", spec, "--from", str(tmp_path / "net")], "label 9", "5 classes")


def test_a_file_without_n_and_seed_works_with_them_on_the_command_line(tmp_path, saved):
    folder = crafted(tmp_path, saved, lambda p: p.update(meta={"task": TASK}))
    one_line_exit_2(["mechanisms", "--from", str(folder)], "does not say its n; give --n")
    out = runner.invoke(app, ["mechanisms", "--from", str(folder), "--n", "40", "--seed", "0",
                              "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["n"] == 40
    bare = crafted(tmp_path, saved, lambda p: p.update(meta={}))
    out = runner.invoke(app, ["mechanisms", TASK, "--from", str(bare), "--n", "40", "--seed", "0"])
    assert out.exit_code == 0, out.output


# --- JSON never holds NaN or Infinity ------------------------------------------------------------


def test_json_output_is_strict_with_the_reason_beside_a_null():
    text = json_text({"loss": float("nan"), "progress": [{"x": float("-inf")}], "ok": 1.5})
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert parsed["loss"] is None and parsed["ok"] == 1.5
    assert parsed["not_finite"] == {"loss": "nan", "progress[0].x": "-inf"}


# --- README, "Saved networks": a network trained outside dlps, analysed with --from ----------------


def test_a_network_trained_outside_dlps_is_analysed_with_from(tmp_path):
    from baselines.checkpoints import save_learner
    from tasks import parse_task
    from tasks.learners import LEARNERS

    task = parse_task("modular:p=11,test_fraction=0.4")
    train = task.train_split(60, 0)
    learner = LEARNERS["mlp"](d_vocab=11, n_classes=11)
    learner.d_vocab_, learner.n_classes_, learner.per_position_ = 11, 11, False
    learner.n_features_in_, learner.stopped_step_, learner.fit_seconds_ = 2, 200, 0.0
    model = learner.build_model(width=2)
    tokens, _ = learner.encode(train.X).tensors(torch.device("cpu"))
    labels = torch.as_tensor(train.y)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(200):  # any training loop of your own
        loss = torch.nn.functional.cross_entropy(model(tokens)[:, 0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    learner.model_, learner.checkpoints_, learner.history_ = model, {}, {}
    save_learner(learner, tmp_path / "mine", meta={"task": task.spec})
    out = runner.invoke(app, ["mechanisms", "--from", str(tmp_path / "mine"), "--n", "60", "--seed", "0",
                              "--format", "json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["accuracy"]["train"] > 0.9 and "fourier" in result
