"""Text reports: certificate summaries next to the paper's bounds, comparisons, per-layer tables."""

from __future__ import annotations

from relucc.certify import layer_reports
from relucc.network import Network


def _format_number(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def certificate_summary(certificate: dict) -> str:
    """Render the certificate's figures in a table beside the paper's bound for the same quantity."""
    if certificate.get("construction", {}).get("kind") in ("circuit", "critic"):
        return circuit_summary(certificate)
    paper = certificate.get("paper_bound", {})
    construction = certificate.get("construction", {})
    rows = [
        ("depth L (affine layers)", certificate["depth"], paper.get("depth")),
        ("size S per output (hidden neurons)", certificate["size_per_output"], paper.get("size_per_output")),
        ("size S, whole network", certificate["size"], None),
        ("Lipschitz bound per output (l2)", certificate["lipschitz_bound"]["value"], paper.get("lipschitz_bound")),
        ("bit complexity tau", certificate["bit_complexity"], paper.get("bit_complexity")),
        ("max |activation| on the domain", certificate["max_abs_activation"]["value"], None),
        ("float32 exact", certificate["float32_exact"], None),
    ]
    lines = [f"certificate for {certificate.get('source', {}).get('name', '?')} on {certificate['exact_domain']}"]
    if construction:
        lines.append(f"  construction: {construction.get('kind')}, strategy {construction.get('strategy')}, "
                     f"predicate {construction.get('predicate')} (k = {construction.get('arity')}); its "
                     f"Fourier expansion has {construction.get('monomials_kept')} non-zero monomials of "
                     f"{construction.get('monomials_total')}")
    selection = certificate.get("strategy_selection")
    if selection and selection.get("requested") == "auto":
        lines.append(f"  strategy chosen for --optimize {selection.get('objective')}: {selection.get('reason')}")
    width = max(len(r[0]) for r in rows)
    lines.append(f"  {'quantity'.ljust(width)}  {'relucc':>14}  {'paper bound':>14}")
    for name, value, bound in rows:
        bound_text = "" if bound is None else _format_number(bound)
        lines.append(f"  {name.ljust(width)}  {_format_number(value):>14}  {bound_text:>14}")
    if paper.get("source"):
        lines.append(f"  paper bound: {paper['source']}")
    for record in certificate.get("verification", []):
        lines.append(f"  verified: {record['scope']} ({record['kind']}, {record['inputs']} inputs): {record['result']}")
    return "\n".join(lines)


def comparison_table(rows) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"  {'quantity'.ljust(width)}  {'stored':>14}  {'recomputed':>14}  verdict"]
    for key, stored, mine, verdict in rows:
        stored_text = "-" if stored is None else _format_number(stored)
        mine_text = "not proven" if verdict == "unconfirmed" else _format_number(mine)
        lines.append(f"  {key.ljust(width)}  {stored_text:>14}  {mine_text:>14}  {verdict}")
    return "\n".join(lines)


def layer_table(network: Network) -> str:
    lines = [f"  {'layer':>5}  {'out x in':>14}  {'neurons':>8}  {'nonzeros':>9}  {'||W||_2 <=':>11}  {'tau':>4}  roles"]
    for report in layer_reports(network):
        shape = f"{report.shape[0]}x{report.shape[1]}"
        roles = ", ".join(f"{role} {count}" for role, count in sorted(report.role_counts.items()))
        lines.append(f"  {report.index:>5}  {shape:>14}  {report.shape[0]:>8}  {report.nonzeros:>9}  "
                     f"{report.spectral_norm:>11.6g}  {report.bit_complexity:>4}  {roles}")
    return "\n".join(lines)


def circuit_summary(certificate: dict) -> str:
    """Render a compiled circuit's certificate: the source and leveled circuit, then the network
    beside Lemma 2.11's and Lemma 4.4's bounds."""
    construction = certificate["construction"]
    paper = certificate.get("paper_bound", {})
    lipschitz = certificate["lipschitz_bound"]
    name = certificate.get("source", {}).get("name", "?")
    lines = [f"certificate for {name} ({construction['kind']}) on {certificate['exact_domain']}"]
    if construction.get("critic_xi"):
        lines.append(f"  critic f o h_xi with xi = {construction['critic_xi']}: equals f(sgn(x)) when every "
                     f"|x_i| >= xi")
    depth, size = construction["circuit_depth"], construction["circuit_size"]
    lines.append(f"  source circuit: {construction['source_gates']} gates; after folding inverters "
                 f"S = {size}, D = {depth}")
    lines.append(f"  leveled circuit (Lemma 2.11): {construction['leveled_size']} gates = {size} + "
                 f"{construction['relays']} relays ({construction['placement']} placement; ASAP needs "
                 f"{construction['asap_relays']}; the lemma allows D*S = {paper.get('leveled_size')})")
    gadgets = ", ".join(f"{role} {entry['gates']} gates / {entry['neurons']} neurons"
                        for role, entry in sorted(construction["gadgets"].items()))
    lines.append(f"  gadgets: {gadgets}")
    rows = [
        ("depth L (affine layers)", certificate["depth"], paper.get("depth")),
        ("size S, whole network", certificate["size"], paper.get("size")),
        ("size S per output", certificate["size_per_output"], None),
        ("Lipschitz bound per output (l2)", lipschitz["value"], paper.get("lipschitz_bound")),
        ("bit complexity tau", certificate["bit_complexity"], None),
        ("max |activation| on the domain", certificate["max_abs_activation"]["value"], None),
        ("float32 exact", certificate["float32_exact"], None),
    ]
    width = max(len(r[0]) for r in rows)
    lines.append(f"  {'quantity'.ljust(width)}  {'relucc':>14}  {'equation (14)':>14}")
    for label, value, bound in rows:
        bound_text = "" if bound is None else _format_number(bound)
        lines.append(f"  {label.ljust(width)}  {_format_number(value):>14}  {bound_text:>14}")
    lines.append("  equation (14) column: D + 1 affine layers after merging each level's readout into the "
                 "next level (+1 for h_xi), 2 neurons per leveled gate (+3n for h_xi as Lemma 4.4 counts), "
                 "Lipschitz bound prod over levels of ||R_i||_2 with rows w/xi' (Lemma 3.12); that bound "
                 "is for the proof's network, one gadget per gate, while relucc's is computed from the "
                 "emitted weights, so either may be the smaller")
    if not certificate["float32_exact"]:
        lines.append(f"  float32: {certificate.get('float32_reason')}")
    for record in certificate.get("verification", []):
        lines.append(f"  verified: {record['scope']} ({record['kind']}, {record['inputs']} inputs): {record['result']}")
    return "\n".join(lines)
