"""Tests of the critic harness: subset designs, test generators, training, export and evaluation."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from relucc import critic_eval, subsets
from relucc.boolean import LocalFunction, Predicate, random_subsets
from relucc.errors import ModelError, UsageError

TORCH_REASON = "critic training needs torch, from the 'critic' extra (pip install 'relucc[critic]')"


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason=TORCH_REASON)


def save(model: onnx.ModelProto, path) -> str:
    critic_eval.save_model(model, path)
    return str(path)


def linear_critic(weights: np.ndarray, bias: float = 0.0) -> onnx.ModelProto:
    """A critic f(x) = <weights, x> + bias as a single Gemm."""
    dimension = weights.size
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", dimension])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(weights.reshape(1, -1).astype(np.float32), "w"),
         numpy_helper.from_array(np.array([bias], dtype=np.float32), "b")],
    )
    return critic_eval.finish_model(graph, "test critic")


def small_settings(**overrides):
    from relucc.critic import TrainSettings

    values = dict(depths=(1, 2), width=64, steps=300, test_size=2000, eval_every=100)
    values.update(overrides)
    return TrainSettings(**values)


# Subset designs


def test_subsets_match_definition_8_sampler():
    drawn = subsets.sample_subsets(50, 200, 5, seed=7)
    assert np.array_equal(drawn, random_subsets(50, 200, 5, 7))


def test_subsets_reproducible_from_seed():
    first = subsets.sample_subsets(50, 200, 5, seed=3, max_overlap=2)
    second = subsets.sample_subsets(50, 200, 5, seed=3, max_overlap=2)
    assert np.array_equal(first, second)


def test_subsets_respect_overlap_bound():
    drawn = subsets.sample_subsets(50, 200, 5, seed=3, max_overlap=2)
    assert drawn.shape == (200, 5)
    assert subsets.max_pairwise_overlap(drawn, 50) <= 2
    assert all(len(set(row)) == 5 for row in drawn.tolist())


def test_subsets_impossible_bound_raises():
    with pytest.raises(UsageError, match="at most 122 such subsets"):
        subsets.sample_subsets(50, 200, 5, seed=0, max_overlap=1)


def test_subsets_invalid_sizes_raise():
    with pytest.raises(UsageError, match="exceeds the seed length"):
        subsets.sample_subsets(4, 10, 5, seed=0)
    with pytest.raises(UsageError, match="at least 0"):
        subsets.sample_subsets(50, 10, 5, seed=0, max_overlap=-1)


# Gather-form test generators


@pytest.mark.parametrize("table", [subsets.tsa_table(), subsets.and_table(3), subsets.copy_table(),
                                   np.full(4, -1, dtype=np.int8), np.full(8, 1, dtype=np.int8)])
def test_local_generator_matches_reference(tmp_path, table):
    arity = int(np.log2(table.size))
    drawn = subsets.sample_subsets(12, 30, arity, seed=1)
    path = save(subsets.local_generator_model(drawn, table, 12, "test"), tmp_path / "g.onnx")
    seeds = critic_eval.draw_seeds(np.random.default_rng(0), 500, 12, "bits")

    outputs = critic_eval.OnnxGenerator(path).run(seeds)

    reference = LocalFunction("g", 12, Predicate("p", arity, table), drawn).evaluate(seeds)
    assert np.array_equal(outputs, reference.astype(np.float32))


def test_local_generator_carries_certificate():
    model = subsets.tsa_generator(50, 200, seed=0)
    properties = {entry.key: entry.value for entry in model.metadata_props}
    certificate = json.loads(properties["relucc.certificate"])
    assert model.producer_name == "relucc"
    assert certificate["float32_exact"] is True
    assert certificate["size"] == 200 * 16


def test_tsa_table_is_product_form():
    points = subsets.input_points(5).astype(int)
    expected = points[:, 0] * points[:, 1] * points[:, 2] * np.where((points[:, 3] > 0) & (points[:, 4] > 0), 1, -1)
    assert np.array_equal(subsets.tsa_table(), expected)


# Low-order statistics


def test_statistics_flag_copy_control(tmp_path):
    generator = critic_eval.OnnxGenerator(save(subsets.copy_generator(10, 40), tmp_path / "copy.onnx"))
    rng = np.random.default_rng(0)

    statistics = critic_eval.low_order_statistics(generator.sample(5000, rng), critic_eval.UniformBits(40).sample(5000, rng))

    assert statistics.is_high
    assert statistics.max_correlation_gap > 0.9
    assert statistics.pairs_over_threshold == 60
    assert "HIGH" in statistics.summary()


def test_statistics_quiet_for_uniform_bits():
    rng = np.random.default_rng(0)
    bits = critic_eval.UniformBits(40)

    statistics = critic_eval.low_order_statistics(bits.sample(5000, rng), bits.sample(5000, rng))

    assert not statistics.is_high
    assert statistics.pairs_over_threshold == 0


# Training


def test_copy_control_detected(tmp_path, torch):
    from relucc.critic import train_critics

    generator = critic_eval.OnnxGenerator(save(subsets.copy_generator(10, 20), tmp_path / "copy.onnx"))

    result = train_critics(generator, critic_eval.UniformBits(20), small_settings(export=False), tmp_path / "out")

    for depth, entry in result.final_by_depth().items():
        assert entry["test_loss_mean"] < -0.5, f"depth {depth}"


def test_identical_generator_stays_near_zero(tmp_path, torch):
    from relucc.critic import train_critics

    identity = subsets.local_generator_model(np.arange(20).reshape(-1, 1), subsets.copy_table(), 20, "identity")
    generator = critic_eval.OnnxGenerator(save(identity, tmp_path / "identity.onnx"))

    result = train_critics(generator, critic_eval.UniformBits(20), small_settings(export=False), tmp_path / "out")

    for depth, entry in result.final_by_depth().items():
        assert abs(entry["test_loss_mean"]) < 0.03, f"depth {depth}"
        assert abs(entry["test_accuracy_mean"] - 0.5) < 0.05, f"depth {depth}"


def test_training_is_reproducible(tmp_path, torch):
    from relucc.critic import train_critics

    generator = critic_eval.OnnxGenerator(save(subsets.and_generator(10, 20, seed=0), tmp_path / "and.onnx"))
    settings = small_settings(steps=50, eval_every=25, export=False)

    first = train_critics(generator, critic_eval.UniformBits(20), settings)
    second = train_critics(generator, critic_eval.UniformBits(20), settings)

    assert [row["test_loss"] for row in first.rows] == [row["test_loss"] for row in second.rows]


def test_training_writes_outputs(tmp_path, torch):
    from relucc.critic import train_critics

    generator = critic_eval.OnnxGenerator(save(subsets.and_generator(10, 20, seed=0), tmp_path / "and.onnx"))
    out = tmp_path / "out"

    result = train_critics(generator, critic_eval.UniformBits(20), small_settings(steps=40, eval_every=20, seeds=2), out)

    with open(out / "curves.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2 * 2 * 3
    assert (out / "test_loss.png").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_by_depth"]["1"]["seeds"] == 2
    assert len(result.critic_paths) == 4


def test_interrupt_keeps_logged_curves(tmp_path, torch, monkeypatch):
    from relucc import critic

    original = critic._optimizer_step
    calls = {"count": 0}

    def interrupt_after_some_steps(*args):
        calls["count"] += 1
        if calls["count"] > 60:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(critic, "_optimizer_step", interrupt_after_some_steps)
    generator = critic_eval.OnnxGenerator(save(subsets.and_generator(10, 20, seed=0), tmp_path / "and.onnx"))
    out = tmp_path / "out"

    result = critic.train_critics(generator, critic_eval.UniformBits(20), small_settings(eval_every=10), out)

    assert result.interrupted
    with open(out / "curves.csv", newline="") as stream:
        logged = list(csv.DictReader(stream))
    assert len(logged) == len(result.rows) == 2 * 4
    assert (out / "test_loss.png").exists()
    assert json.loads((out / "summary.json").read_text())["interrupted"] is True


def test_invalid_settings_raise():
    from relucc.critic import TrainSettings

    with pytest.raises(UsageError, match="depths") as caught:
        TrainSettings(depths=(0,), steps=0).validate()
    assert "steps must be at least 1" in str(caught.value)


# Export


def test_exported_critic_equals_torch(tmp_path, torch):
    from relucc.critic import build_critic, critic_model

    torch.manual_seed(0)
    network = build_critic(30, 50, 3)
    path = save(critic_model(network, "test", "none", (-1.0, 1.0)), tmp_path / "critic.onnx")
    inputs = np.random.default_rng(0).standard_normal((1000, 30), dtype=np.float32) * 3

    exported = critic_eval.OnnxCritic(path).evaluate(inputs)

    with torch.no_grad():
        expected = network(torch.from_numpy(inputs)).squeeze(1).numpy()
    np.testing.assert_allclose(exported, expected, rtol=1e-5, atol=1e-5)


def test_exported_critic_interface(tmp_path, torch):
    from relucc.critic import build_critic, critic_model

    model = critic_model(build_critic(30, 50, 2), "test", "none", (-1.0, 1.0))

    onnx.checker.check_model(model, full_check=True)
    assert [item.name for item in model.graph.input] == ["x"]
    assert [item.name for item in model.graph.output] == ["y"]
    certificate = json.loads({entry.key: entry.value for entry in model.metadata_props}["relucc.certificate"])
    assert certificate["depth"] == 3
    assert certificate["size"] == 100
    assert certificate["lipschitz_bound"]["value"] > 0


def test_float32_bit_complexity():
    from relucc.critic import float32_bit_complexity

    assert float32_bit_complexity(np.array([1.0, -0.5, 0.0])) == 1
    assert float32_bit_complexity(np.array([0.375])) == 3
    assert float32_bit_complexity(np.array([12.0])) == 4


# Critic evaluation


def test_gap_of_first_coordinate(tmp_path):
    generator = critic_eval.OnnxGenerator(save(subsets.and_generator(10, 20, seed=0), tmp_path / "and.onnx"))
    first_coordinate = np.eye(20, dtype=np.float32)[0]
    critic = critic_eval.OnnxCritic(save(linear_critic(first_coordinate), tmp_path / "first.onnx"))

    estimate = critic_eval.estimate_gap(critic, generator, critic_eval.UniformBits(20), 40_000, seed=0)

    # AND(a, b) is +1 with probability 1/4, so its mean is -1/2; a uniform bit has mean 0.
    low, high = estimate.gap_interval
    assert low <= 0.5 <= high
    assert high - low < 0.03
    assert estimate.interval[1] < 0


def test_gap_of_identical_sides_contains_zero(tmp_path):
    identity = subsets.local_generator_model(np.arange(20).reshape(-1, 1), subsets.copy_table(), 20, "identity")
    generator = critic_eval.OnnxGenerator(save(identity, tmp_path / "identity.onnx"))
    critic = critic_eval.OnnxCritic(save(linear_critic(np.ones(20, dtype=np.float32)), tmp_path / "sum.onnx"))

    estimate = critic_eval.estimate_gap(critic, generator, critic_eval.UniformBits(20), 20_000, seed=1)

    assert estimate.interval[0] <= 0 <= estimate.interval[1]


def test_normal_quantile():
    assert critic_eval._normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-5)


# Bad input


def test_missing_generator_raises(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        critic_eval.OnnxGenerator(tmp_path / "missing.onnx")


def test_non_onnx_generator_raises(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("not a model")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        critic_eval.OnnxGenerator(path)


def test_target_dimension_mismatch_raises(tmp_path):
    generator = critic_eval.OnnxGenerator(save(subsets.copy_generator(5, 20), tmp_path / "g20.onnx"))
    other = save(subsets.copy_generator(5, 30), tmp_path / "g30.onnx")
    with pytest.raises(ModelError) as caught:
        critic_eval.load_target(other, generator)
    assert "30" in str(caught.value)
    assert "20" in str(caught.value)


def test_critic_dimension_mismatch_raises(tmp_path):
    generator = critic_eval.OnnxGenerator(save(subsets.copy_generator(5, 20), tmp_path / "g20.onnx"))
    critic = critic_eval.OnnxCritic(save(linear_critic(np.ones(30, dtype=np.float32)), tmp_path / "c30.onnx"))
    with pytest.raises(ModelError) as caught:
        critic_eval.estimate_gap(critic, generator, critic_eval.UniformBits(20), 100, seed=0)
    assert "takes 30 inputs" in str(caught.value)
    assert "outputs 20" in str(caught.value)


def test_critic_with_two_columns_raises(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    path = save(critic_eval.finish_model(graph, "two columns"), tmp_path / "two.onnx")
    with pytest.raises(ModelError, match="2 columns"):
        critic_eval.OnnxCritic(path)


def test_unknown_target_raises(tmp_path):
    generator = critic_eval.OnnxGenerator(save(subsets.copy_generator(5, 20), tmp_path / "g.onnx"))
    with pytest.raises(UsageError, match="unknown target"):
        critic_eval.load_target("gaussian", generator)


def test_unknown_seed_distribution_raises(tmp_path):
    path = save(subsets.copy_generator(5, 20), tmp_path / "g.onnx")
    with pytest.raises(UsageError, match="seed distribution"):
        critic_eval.OnnxGenerator(path, seed_distribution="normal")


# Command line and packaging


def test_cli_train_then_eval(tmp_path, torch, capsys):
    from relucc.critic_cli import main

    generator = save(subsets.and_generator(10, 20, seed=0), tmp_path / "and.onnx")
    out = tmp_path / "out"

    status = main(["critic", "train", generator, "--depths", "1", "--width", "32", "--steps", "60",
                   "--test-size", "1000", "--out", str(out)])
    assert status == 0
    assert "depth 1: test loss" in capsys.readouterr().out

    status = main(["critic", "eval", str(out / "critic_depth1_seed0.onnx"), "--generator", generator,
                   "--samples", "2000"])
    assert status == 0
    assert "95% interval" in capsys.readouterr().out


def test_cli_bad_input_exit_status(tmp_path, capsys):
    from relucc.critic_cli import main

    status = main(["critic", "eval", str(tmp_path / "missing.onnx"), "--generator", str(tmp_path / "g.onnx")])

    assert status == 2
    assert "critic model file not found" in capsys.readouterr().err


def test_import_without_torch():
    code = ("import sys; import relucc.critic, relucc.critic_cli, relucc.critic_eval; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
