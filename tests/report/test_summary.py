"""Analysis values as text: each value with its uncertainty, the 95 % one when stored."""

from labctl.report.summary import format_results


def test_u95_is_shown_beside_the_value_and_named():
    values = {
        "sar_box_lucas_W_per_g": 196.4,
        "sar_box_lucas_u95_W_per_g": 29.1,
        "sar_box_lucas_std_W_per_g": 14.55,
        "sar_tau_s": 330.0,
        "sar_tau_std_s": 2.0,
    }
    units = {"sar_box_lucas_W_per_g": {"units": "W/g Fe"}, "sar_tau_s": {"units": "s"}}
    lines = format_results(values, units)
    assert lines == ["box_lucas_W_per_g = 196.4 +/- 29.1 W/g Fe (95 %)", "tau_s = 330 +/- 2 s"]
