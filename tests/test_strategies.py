"""Lowering strategies: exactness on whole domains, the cost model's choice, layouts that agree."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relucc import cli, strategies
from relucc.boolean import Predicate, input_points
from relucc.compiler import compile_source, verify_predicate_network
from relucc.errors import CheckFailure
from relucc.passes import optimize_network
from relucc.runtime import all_seeds, session

TSA_SOURCE = """
predicate TSA(x1, x2, x3, x4, x5) = x1 * x2 * x3 * AND(x4, x5)
local G {
    m = 50
    d = 200
    predicate = TSA
    subsets = random(seed = 2022)
}
generator G
"""


def table_of(function, k):
    points = input_points(k).astype(np.int64)
    return np.array([1 if function(point) else -1 for point in points], dtype=np.int8)


def tsa_predicate():
    return Predicate("TSA", 5, table_of(lambda x: x[0] * x[1] * x[2] * (1 if x[3] > 0 and x[4] > 0 else -1) > 0, 5))


def assert_exact(network, table, k):
    numerators, exponent = network.evaluate_exact(input_points(k))
    assert exponent == 0
    assert network.input_dim == k and network.output_dim == 1
    assert np.array_equal(numerators[:, 0], table.astype(np.int64))


def signed_sum_exists(table, k):
    points = input_points(k).astype(np.int64)
    for signs in itertools.product((1, -1), repeat=k):
        sums = points @ np.array(signs, dtype=np.int64)
        if all(len(set(table[sums == s].tolist())) == 1 for s in set(sums.tolist())):
            return True
    return False


def build_or_none(name, predicate):
    try:
        return strategies.build(name, predicate)
    except strategies.StrategyNotApplicable:
        return None


def all_tables(k):
    for code in range(2 ** (2**k)):
        yield np.array([1 if code >> j & 1 else -1 for j in range(2**k)], dtype=np.int8)


@pytest.mark.parametrize("name", strategies.STRATEGY_NAMES)
def test_strategy_exact_on_every_function_up_to_3_variables(name):
    for k in range(4):
        for table in all_tables(k):
            predicate = Predicate("p", k, table)
            network = build_or_none(name, predicate)
            if network is None:
                assert name == "symmetric" and not signed_sum_exists(table, k)
                continue
            assert_exact(network, table, k)


@pytest.mark.parametrize("name", strategies.STRATEGY_NAMES)
@pytest.mark.parametrize("k", [4, 5, 6])
def test_strategy_exact_on_random_functions(name, k):
    rng = np.random.default_rng(100 + k)
    for _ in range(6):
        table = rng.choice(np.array([-1, 1], dtype=np.int8), size=2**k)
        network = build_or_none(name, Predicate("p", k, table))
        if network is not None:
            assert_exact(network, table, k)


@settings(max_examples=20, deadline=None)
@given(st.integers(4, 6).flatmap(lambda k: st.tuples(st.just(k), st.lists(st.sampled_from([-1, 1]),
                                                                            min_size=2**k, max_size=2**k))))
def test_auto_selection_exact_on_random_functions(case):
    k, values = case
    table = np.array(values, dtype=np.int8)
    lowered = strategies.lower_predicate(Predicate("p", k, table))
    assert_exact(lowered.network, table, k)


def test_product_gadget_exact():
    a, b = strategies.literal_terms(2)
    network = strategies.lower_terms(2, strategies.product_term(a, b))
    assert network.size == 2
    assert_exact(network, table_of(lambda x: x[0] * x[1] > 0, 2), 2)


def test_and_gadget_every_sign():
    for left, right, out in itertools.product((1, -1), repeat=3):
        a, b = strategies.literal_terms(2)
        network = strategies.lower_terms(2, strategies.and_term(a, b, left, right, out))
        assert network.size == 1
        expected = table_of(lambda x: out * (1 if left * x[0] > 0 and right * x[1] > 0 else -1) > 0, 2)
        assert_exact(network, expected, 2)


@pytest.mark.parametrize("n", range(1, 7))
def test_sum_function_any_values(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        values = [int(v) for v in rng.choice([-1, 1], size=n + 1)]
        signs = {i: int(s) for i, s in enumerate(rng.choice([-1, 1], size=n))}
        term = strategies.sum_function_term(strategies.literal_terms(n), signs, values)
        points = input_points(n).astype(np.int64)
        sums = points @ np.array([signs[i] for i in range(n)])
        expected = np.array([values[(s + n) // 2] for s in sums], dtype=np.int8)
        assert_exact(strategies.lower_terms(n, term), expected, n)


def test_cube_cover_disjoint_and_complete():
    rng = np.random.default_rng(3)
    members = rng.random(64) < 0.5
    cubes = strategies.disjoint_cube_cover(members, 6)
    points = input_points(6)
    covered = np.zeros(64, dtype=int)
    for cube in cubes:
        covered += np.all([points[:, i] == v for i, v in cube.items()], axis=0)
    assert np.array_equal(covered, members.astype(int))


def test_majority_and_parity_by_symmetric():
    majority = Predicate("maj5", 5, table_of(lambda x: x.sum() > 0, 5))
    parity = Predicate("par5", 5, table_of(lambda x: np.prod(x) > 0, 5))
    assert strategies.build("symmetric", majority).size == 2
    assert strategies.build("symmetric", parity).size == 5
    assert strategies.lower_predicate(majority).strategy == "symmetric"


def test_tsa_default_beats_paper():
    paper = strategies.lower_predicate(tsa_predicate(), "paper")
    lowered = strategies.lower_predicate(tsa_predicate())
    candidates = {c["strategy"]: c for c in lowered.selection["candidates"]}
    assert paper.network.size == 82
    assert lowered.network.size * 3 <= 82
    assert lowered.network.depth <= 3
    assert candidates[lowered.strategy]["lipschitz_bound"] <= candidates["paper"]["lipschitz_bound"]


@pytest.mark.parametrize("objective", strategies.OBJECTIVES)
def test_selection_follows_objective(objective):
    lowered = strategies.lower_predicate(tsa_predicate(), objective=objective)
    built = [c for c in lowered.selection["candidates"] if c["applicable"]]
    chosen = next(c for c in built if c["strategy"] == lowered.strategy)
    assert lowered.selection["chosen"] == lowered.strategy
    assert lowered.selection["objective"] == objective
    assert strategies.objective_key(chosen, objective) == min(strategies.objective_key(c, objective) for c in built)
    assert lowered.passes["applied"] is True


def test_selection_by_depth_is_one_hidden_layer():
    lowered = strategies.lower_predicate(tsa_predicate(), objective="depth")
    assert lowered.network.depth == 2
    assert lowered.strategy == "cubes"


def test_certificate_records_choice_and_passes():
    compiled = compile_source(TSA_SOURCE, "tsa.circ")
    certificate = compiled.certificate
    assert certificate["construction"]["strategy"] == compiled.strategy == "decompose"
    assert certificate["strategy_selection"]["requested"] == "auto"
    assert "hidden neurons per output" in certificate["strategy_selection"]["reason"]
    assert certificate["size_per_output"] == 6
    assert certificate["passes"]["applied"] is True
    assert certificate["passes"]["decided_by"] == "exact evaluation on all 32 domain points"


def test_paper_keeps_construction_without_passes():
    compiled = compile_source(TSA_SOURCE, "tsa.circ", strategy="paper")
    assert compiled.certificate["size_per_output"] == 82
    assert compiled.certificate["passes"]["applied"] is False


@pytest.mark.parametrize("name", [n for n in strategies.STRATEGY_NAMES if n != "symmetric"])
def test_corrupted_weight_caught(name):
    predicate = tsa_predicate()
    network, _ = optimize_network(strategies.build(name, predicate), input_points(5))
    verify_predicate_network(predicate, network)
    output = network.layers[-1]
    column = int(np.nonzero(np.asarray(output.weight)[0])[0][0])
    output.weight[0, column] += 1
    with pytest.raises(CheckFailure, match="predicate network of TSA is wrong"):
        verify_predicate_network(predicate, network)


def test_inapplicable_strategy_is_usage_error(tmp_path, capsys):
    source = tmp_path / "tsa.circ"
    source.write_text(TSA_SOURCE)
    status = cli.main(["compile", str(source), "-o", str(tmp_path / "out.onnx"), "--strategy", "symmetric"])
    captured = capsys.readouterr()
    assert status == 2
    assert "strategy symmetric cannot lower predicate TSA" in captured.err
    assert "--strategy auto" in captured.err
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("name", ["auto", "paper", "cubes"])
def test_layouts_agree(name):
    source = TSA_SOURCE.replace("m = 50", "m = 12").replace("d = 200", "d = 30")
    compiled = compile_source(source, "small.circ", strategy=name)
    seeds = all_seeds(12, 0, 2**12)
    local = session(compiled.to_onnx("local")).run(None, {"z": seeds})[0]
    dense = session(compiled.to_onnx("dense")).run(None, {"z": seeds})[0]
    assert local.shape == (2**12, 30)
    assert np.array_equal(local, dense)
    assert np.array_equal(local, compiled.reference(seeds).astype(np.float32))
