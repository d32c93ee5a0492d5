"""Distance evidence: the sampled lower bound stays below a brute-force W1 on a tiny case."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from relucc.cli import main
from relucc.distance import distance_evidence, target_samples
from relucc.errors import UsageError
from relucc.reader import load
from relucc.runtime import all_seeds, run_batched, session

# m = 4 seed bits, d = 2 outputs: J turns 8 PRG bits into 2 numbers, H is an explicit 2 -> 2 ReLU map.
SOURCE = """
predicate P(a, b, c) = a * AND(b, c)
local PRG { m = 4  d = 8  predicate = P  subsets = random(seed = 9) }
stage h { kind = h_xi  eps = 1/64  form = clamped }
stage J { kind = bits_to_unit  n = 4 }
stage H { kind = relu_network  activation = relu  weight1 = [[1, 1/2], [-1/2, 1], [1, -1]]  bias1 = [0, 1/2, 0]
          weight2 = [[1, 0, 1/2], [0, 1, -1/4]] }
compose G { stages = H . J . PRG . h  seed = SEED }
generator G
"""


def write_models(tmp_path, seed: str):
    source = tmp_path / "tiny.circ"
    text = SOURCE.replace("SEED", seed)
    source.write_text(text)
    generator, target = tmp_path / "g.onnx", tmp_path / "t.onnx"
    assert main(["compile", str(source), "-o", str(generator)]) == 0
    assert main(["compile", str(source), "--target", "-o", str(target)]) == 0
    return str(generator), str(target)


def brute_force_w1(points: np.ndarray, support: np.ndarray) -> float:
    """W1 between the empirical target and G(U_m): each support point repeated to match the sample count."""
    copies = points.shape[0] // support.shape[0]
    repeated = np.repeat(support, copies, axis=0)
    cost = np.linalg.norm(points[:, None, :] - repeated[None, :, :], axis=2)
    rows, columns = linear_sum_assignment(cost)
    return float(cost[rows, columns].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lower_bound_below_brute_force(tmp_path, seed):
    generator, target = write_models(tmp_path, "gaussian")
    samples = 16 * 60
    result = distance_evidence(generator, target, samples, seed, 0.95)
    support = run_batched(session(generator), all_seeds(4, 0, 16)).astype(np.float64)
    points = target_samples(target, load(target).stored_certificate, samples, seed, "cpu")
    brute = brute_force_w1(points, support)
    assert result["support_points"] == 16
    assert result["mean_distance"] <= brute + 1e-9
    assert result["w1_lower_bound_bits"] <= brute
    assert result["w1_lower_bound"] <= result["w1_lower_bound_bits"]
    assert result["diversity"]["lower_bound"] <= brute


def test_long_seed_prints_no_number(tmp_path, capsys):
    generator, target = write_models(tmp_path, "bits")
    assert main(["distance", generator, target, "--max-seed-length", "3"]) == 0
    output = capsys.readouterr().out
    assert "too long to enumerate" in output
    assert ">= beta" in output


def test_bad_confidence(tmp_path):
    generator, target = write_models(tmp_path, "bits")
    with pytest.raises(UsageError, match="confidence"):
        distance_evidence(generator, target, 100, 0, 1.5)


def test_distance_command_reports_hoeffding(tmp_path, capsys):
    generator, target = write_models(tmp_path, "gaussian")
    assert main(["distance", generator, target, "-n", "2000"]) == 0
    output = capsys.readouterr().out
    assert "Hoeffding, one-sided" in output
    assert "W1(target, G(gamma_m)) >=" in output
