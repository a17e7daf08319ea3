"""Chern numbers against the lattice depths (issue 12, item 7): the exact transition of band 2, the scan, the CLI."""

import json

import numpy as np
import pytest

from atompump.cli import main
from atompump.theory import SuperlatticeParams, hamiltonian
from atompump.theory.scan import report_grid, superlattice_chern_scan, transition_vs


@pytest.mark.parametrize("vl", [20.0, 25.0])
def test_gap_between_bands_2_and_3_closes_exactly_on_the_transition_line(vl):
    # physics.md: band 2 flips at Vs = Vl'^2 / 4 with Vl' = Vl / 4 in Er,s; the touching point is kappa = 0, phi = pi/2
    def gap(vs):
        e = np.linalg.eigvalsh(hamiltonian(0.0, np.pi / 2, SuperlatticeParams(Vs_Er=vs, Vl_Er=vl), n_max=12))
        return e[2] - e[1]

    vs_c = transition_vs(vl)
    assert vs_c == pytest.approx((vl / 4) ** 2 / 4)
    assert gap(vs_c) < 1e-9
    assert gap(vs_c - 0.3) > 1e-2 and gap(vs_c + 0.3) > 1e-2


def test_band_2_flips_across_the_exact_line_on_a_small_grid():
    # Lohse's scan: Vl = 25 Er,l, transition at Vs = 9.766 Er,s; and the default Vl = 20 Er,l, transition at 6.25
    scan = superlattice_chern_scan([5.5, 6.25, 7.0, 9.0, 10.5], [20.0, 25.0], n_bands=2)
    c = scan.chern_number.values  # (Vs, Vl, band)
    np.testing.assert_allclose(scan.transition_Vs.values, [6.25, 9.765625])
    below = scan.Vs.values[:, None] < scan.transition_Vs.values[None, :]
    above = scan.Vs.values[:, None] > scan.transition_Vs.values[None, :]
    assert np.all(c[..., 1][below] == 1) and np.all(c[..., 1][above] == -1)
    # exactly on the line the 2-3 gap is closed: band 2 has no Chern number there; band 1 is +1 everywhere
    assert np.isnan(c[1, 0, 1]) and scan.min_gap_above.values[1, 0, 1] < 1e-3
    assert np.all(c[..., 0] == 1)


def test_report_grid_contains_the_cli_grid_and_the_configured_lattice():
    vs, vl = report_grid(10.0, 20.0)
    np.testing.assert_allclose(vs, np.linspace(0, 16, 9))
    np.testing.assert_allclose(vl, np.linspace(15, 35, 5))
    vs, vl = report_grid(21.0, 50.0)
    assert vs[-1] >= 21.0 and vl[-1] >= 50.0 and vl[0] == 15.0


def test_cli_superlattice_scan_json_table_and_figure(capsys, tmp_path):
    assert main(["theory", "superlattice-scan", "--Vs", "9", "10.5", "2", "--Vl", "25", "25", "1", "--n-bands", "2",
                 "--json", "--figure", str(tmp_path / "scan.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "superlattice-scan" and out["Vs_Er"] == [9.0, 10.5] and out["Vl_Er"] == [25.0]
    assert out["chern_numbers"] == [[[1, 1]], [[1, -1]]]
    assert out["transition_Vs_Er"] == [9.765625]
    assert (tmp_path / "scan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["theory", "superlattice-scan", "--Vs", "9", "10.5", "2", "--Vl", "25", "25", "1",
                 "--n-bands", "2"]) == 0
    table = capsys.readouterr().out
    assert "+1+1" in table and "|+1-1" in table and "9.766 at Vl = 25" in table
    with pytest.raises(SystemExit) as exc:
        main(["theory", "superlattice-scan", "--Vs", "5", "1", "3"])
    assert exc.value.code == 2
    assert "--Vs takes START STOP N" in capsys.readouterr().err


def test_scan_figure_draws_the_exact_line():
    from atompump.report.theory_figures import superlattice_scan_figure

    scan = superlattice_chern_scan([9.0, 10.5], [20.0, 25.0], n_bands=2)
    fig = superlattice_scan_figure(scan, lattice=(10.0, 20.0))
    line = fig.axes[1].lines[0]
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(y, (x / 4) ** 2 / 4)
    # the band-2 panel's cells (rows Vs, columns Vl): -1 above the line (Vs = 6.25 at Vl = 20, 9.77 at 25), +1 below
    np.testing.assert_array_equal(fig.axes[1].collections[0].get_array().reshape(2, 2), [[-1, 1], [-1, -1]])
