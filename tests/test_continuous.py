"""Continuous stages: h_xi, bits_to_unit, pushforwards, composition, Gaussian seeds, certificates."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from relucc.cli import main
from relucc.compiler import compile_source
from relucc.composition import reference_chain
from relucc.continuous import (
    BitsToUnit,
    InputGadget,
    compose,
    dyadic_inputs,
    exact_values,
    random_leaky_network,
    sample_seeds,
)
from relucc.errors import SourceError
from relucc.runtime import run_batched, session

TINY = """
predicate P(a, b, c) = a * AND(b, c)
local PRG { m = 6  d = 8  predicate = P  subsets = random(seed = 3) }
stage h { kind = h_xi  eps = 1/4  form = FORM }
stage J { kind = bits_to_unit  n = 3 }
stage H { kind = random_leaky  widths = [2, 3, 4]  lambda = 1/4  seed = 1  tau = 8 }
compose G { stages = H . J . PRG . h  seed = gaussian }
generator G
"""


def compiled_tiny(form: str = "clamped"):
    return compile_source(TINY.replace("FORM", form), "tiny.circ")


def clamp(value: Fraction, xi: Fraction) -> Fraction:
    if value <= -xi:
        return Fraction(-1)
    if value >= xi:
        return Fraction(1)
    return value / xi


@pytest.mark.parametrize("form", ["paper", "clamped"])
def test_h_xi_exact_on_real_line(form):
    xi = Fraction(1, 8)
    gadget = InputGadget("h", xi=xi, form=form)
    network = gadget.lower(1)
    grid = [Fraction(k, 64) for k in range(-200, 201)] + [xi, -xi, Fraction(10**6)]
    numerators, exponent = network.evaluate_exact(dyadic_inputs(np.array([[float(v)] for v in grid]), 6), 6)
    got = exact_values(numerators, exponent)[:, 0]
    assert list(got) == [clamp(v, xi) for v in grid]


def test_h_xi_paper_form_has_depth_two():
    network = InputGadget("h", xi=Fraction(1, 4)).lower(3)
    assert (network.depth, network.size) == (2, 6)


def test_bits_to_unit_exact_and_drops_leftover_bits():
    stage = BitsToUnit("J", n=4)
    network = stage.lower(9)
    points = np.array([[1 if (i >> j) & 1 else -1 for j in range(9)] for i in range(2**9)])
    numerators, exponent = network.evaluate_exact(points)
    got = exact_values(numerators, exponent)
    assert got.shape == (512, 2)
    for row, point in zip(got, points):
        bits = (point + 1) // 2
        assert row[0] == sum(Fraction(int(bits[j]), 2 ** (j + 1)) for j in range(4))
        assert row[1] == sum(Fraction(int(bits[4 + j]), 2 ** (j + 1)) for j in range(4))


@pytest.mark.parametrize("n", [1, 3, 6])
def test_bits_to_unit_wasserstein_to_uniform(n):
    stage = BitsToUnit("J", n=n)
    points = np.array([[1 if (i >> j) & 1 else -1 for j in range(n)] for i in range(2**n)])
    values = stage.lower(n).evaluate_float(points)[:, 0]
    grid = (np.arange(2 ** (n + 8)) + 0.5) / 2 ** (n + 8)
    distance = wasserstein_distance(values, grid)
    assert distance <= 2.0**-n + 2.0 ** -(n + 9)
    assert distance == pytest.approx(2.0 ** -(n + 1), rel=1e-2)


def test_quantisation_bound_holds_on_samples():
    stage = random_leaky_network("H", [3, 4, 5], Fraction(1, 4), 5, tau=6, eps=None)
    stage.quantise()
    rng = np.random.default_rng(0)
    x = rng.random((2000, 3))
    exact = x
    for index, (weight, bias) in enumerate(stage.real_layers):
        exact = exact @ weight.T + bias
        if index < len(stage.real_layers) - 1:
            exact = np.where(exact >= 0, 0.75 * exact, 0.25 * exact)
    rounded = stage.lower(3).evaluate_float(x)
    assert np.max(np.linalg.norm(exact - rounded, axis=1)) <= stage.quantisation["error_bound"]
    assert stage.quantisation["tau"] == 6


def test_eps_picks_least_tau():
    stage = random_leaky_network("H", [3, 4, 5], Fraction(1, 4), 5, tau=None, eps=Fraction(1, 100))
    stage.quantise()
    tau = stage.quantisation["tau"]
    assert stage.error_bound(tau) <= 0.01 < stage.error_bound(tau - 1)


def test_composition_equals_sequential_evaluation():
    compiled = compiled_tiny()
    points = np.array([[1 if (i >> j) & 1 else -1 for j in range(6)] for i in range(64)], dtype=np.int64)
    numerators, exponent = compiled.network.evaluate_exact(points)
    merged = exact_values(numerators, exponent)
    values, value_exponent = points, 0
    for item in compiled.stage_networks:
        values, value_exponent = item.network.evaluate_exact(values, value_exponent)
    assert np.array_equal(merged, exact_values(values, value_exponent))
    assert np.array_equal(merged, reference_chain(compiled.stage_networks, exact_values(points, 0)))
    assert compiled.network.depth == sum(item.network.depth for item in compiled.stage_networks) - 3


def test_compose_rejects_width_mismatch():
    with pytest.raises(ValueError, match="3 outputs"):
        compose(BitsToUnit("J", n=2).lower(6), BitsToUnit("K", n=2).lower(4))


@pytest.mark.parametrize("form", ["paper", "clamped"])
def test_gaussian_generator_equals_prg_on_signs(form):
    compiled = compiled_tiny(form)
    xi = compiled.stage_networks[0].stage.xi
    rng = np.random.default_rng(1)
    z = np.round(rng.standard_normal((40, 6)) * 2**20) / 2**20
    z = np.where(np.abs(z) < float(xi), np.where(z >= 0, 1, -1) * float(xi), z)
    numerators, exponent = compiled.network.evaluate_exact(dyadic_inputs(z, 20), 20)
    expected = reference_chain(compiled.stage_networks[1:], exact_values(np.where(z >= 0, 1, -1), 0))
    assert np.array_equal(exact_values(numerators, exponent), expected)


def test_clamped_gaussian_generator_exact_in_onnxruntime():
    compiled = compiled_tiny("clamped")
    xi = float(compiled.stage_networks[0].stage.xi)
    z = sample_seeds("gaussian", 4000, 6, np.random.default_rng(2))
    z = z[np.all(np.abs(z) >= xi, axis=1)]
    sess = session(compiled.to_onnx())
    assert np.array_equal(run_batched(sess, z), run_batched(sess, np.sign(z).astype(np.float32)))


def test_lemma_3_13_bound_uses_chosen_xi():
    compiled = compiled_tiny()
    lemma = compiled.certificate["lemma_3_13"]
    inverse = int(lemma["inverse_xi"])
    assert inverse & (inverse - 1) == 0
    assert inverse >= lemma["paper_inverse_xi"]
    assert lemma["w1_bound"] <= 0.25
    assert lemma["w1_bound"] == pytest.approx(
        lemma["downstream_lipschitz"] / inverse * np.sqrt(2 / np.pi * 6**3 * 4))


def test_info_recomputes_certificate(tmp_path, capsys):
    source = tmp_path / "tiny.circ"
    source.write_text(TINY.replace("FORM", "clamped"))
    model = tmp_path / "g.onnx"
    assert main(["compile", str(source), "-o", str(model)]) == 0
    assert main(["info", str(model)]) == 0
    output = capsys.readouterr().out
    assert "DIFFERS" not in output
    assert "Lemma 3.13" in output


def test_check_and_target_and_sample(tmp_path, capsys):
    source = tmp_path / "tiny.circ"
    source.write_text(TINY.replace("FORM", "clamped"))
    assert main(["check", str(source)]) == 0
    target = tmp_path / "t.onnx"
    assert main(["compile", str(source), "--target", "-o", str(target)]) == 0
    samples = tmp_path / "y.npy"
    assert main(["sample", str(target), "-n", "5", "-o", str(samples), "--save-seeds", str(tmp_path / "z.npy")]) == 0
    seeds = np.load(tmp_path / "z.npy")
    assert seeds.shape == (5, 2)
    assert np.all((seeds >= 0) & (seeds <= 1))
    assert np.load(samples).shape == (5, 4)
    assert "uniform seeds in [0,1]^2" in capsys.readouterr().out


def test_sample_is_reproducible(tmp_path):
    first, second = np.random.default_rng(4), np.random.default_rng(4)
    for distribution in ("bits", "gaussian", "uniform01"):
        assert np.array_equal(sample_seeds(distribution, 8, 3, first), sample_seeds(distribution, 8, 3, second))


def test_example_parses():
    from relucc.frontend import parse_file

    program = parse_file(Path(__file__).parent.parent / "examples" / "theorem31.circ")
    spec = program.compositions["G"]
    assert [stage.name for stage in spec.stages] == ["h", "PRG", "J", "H"]
    assert (spec.seed, spec.seed_length) == ("gaussian", 32)


BAD = [
    ("width mismatch", TINY.replace("n = 3", "n = 2").replace("FORM", "paper"),
     "H expects 2 inputs but J outputs 4"),
    ("gaussian without h", TINY.replace("PRG . h", "PRG").replace("FORM", "paper"),
     "a Gaussian seed must go through an h_xi stage first"),
    ("unknown kind", TINY.replace("kind = bits_to_unit", "kind = bits_to_units").replace("FORM", "paper"),
     "kind must be one of"),
    ("not expansive", TINY.replace("[2, 3, 4]", "[2, 2, 4]").replace("FORM", "paper"), "not expansive"),
    ("unknown stage", TINY.replace("H . J", "K . J").replace("FORM", "paper"), "unknown stage K"),
    ("h not first", TINY.replace("H . J . PRG . h", "H . J . h . PRG").replace("gaussian", "bits")
     .replace("FORM", "paper"),
     "h_xi must be the first stage"),
    ("missing tau", TINY.replace("tau = 8", "").replace("FORM", "paper"), "needs tau or eps"),
    ("bad form", TINY.replace("FORM", "fancy"), "form must be paper or clamped"),
    ("non-dyadic affine", TINY.replace("FORM", "paper").replace("compose G", "stage A { kind = affine  "
                                                                 "weight = [[1/3, 0]] }\ncompose G"),
     "affine weights must be dyadic"),
]


@pytest.mark.parametrize("label,source,message", BAD, ids=[case[0] for case in BAD])
def test_bad_stage_input(label, source, message):
    with pytest.raises(SourceError) as caught:
        compile_source(source, "bad.circ")
    assert message in str(caught.value)
    assert "bad.circ:" in str(caught.value)


def test_inline_relu_network_and_affine():
    source = """
stage A { kind = affine  weight = [[1, 0], [0, 1/2]]  bias = [1/4, 0] }
stage H { kind = relu_network  activation = relu  weight1 = [[1, -1], [1/2, 1]]  bias1 = [0, -1/4]
          weight2 = [[1, 1]] }
compose F { stages = H . A  seed = uniform01 }
generator F
"""
    compiled = compile_source(source, "inline.circ")
    x = np.array([[0.5, 0.25], [0.0, 1.0]])
    y = x * [1, 0.5] + [0.25, 0]
    hidden = np.maximum(y @ np.array([[1, -1], [0.5, 1]]).T + [0, -0.25], 0)
    assert np.array_equal(compiled.network.evaluate_float(x)[:, 0], hidden.sum(axis=1))


def test_npz_weights(tmp_path):
    np.savez(tmp_path / "h.npz", weight1=np.array([[0.1, 0.2]]), bias1=np.array([0.3]))
    source = 'stage H { kind = relu_network  activation = relu  file = "h.npz"  tau = 10 }\ngenerator H\n'
    path = tmp_path / "h.circ"
    path.write_text(source)
    from relucc.compiler import compile_file

    compiled = compile_file(str(path))
    value = compiled.network.evaluate_float(np.array([[1.0, 1.0]]))[0, 0]
    assert value == round(0.1 * 1024) / 1024 + round(0.2 * 1024) / 1024 + round(0.3 * 1024) / 1024
