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
                     f"predicate {construction.get('predicate')} (k = {construction.get('arity')}), "
                     f"{construction.get('monomials_kept')} of {construction.get('monomials_total')} "
                     f"Fourier monomials kept")
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
        lines.append(f"  {key.ljust(width)}  {stored_text:>14}  {_format_number(mine):>14}  {verdict}")
    return "\n".join(lines)


def layer_table(network: Network) -> str:
    lines = [f"  {'layer':>5}  {'shape':>14}  {'neurons':>8}  {'nonzeros':>9}  {'||W||_2 <=':>11}  {'tau':>4}  roles"]
    for report in layer_reports(network):
        shape = f"{report.shape[0]}x{report.shape[1]}"
        roles = ", ".join(f"{role} {count}" for role, count in sorted(report.role_counts.items()))
        lines.append(f"  {report.index:>5}  {shape:>14}  {report.shape[0]:>8}  {report.nonzeros:>9}  "
                     f"{report.spectral_norm:>11.6g}  {report.bit_complexity:>4}  {roles}")
    return "\n".join(lines)
