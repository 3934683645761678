import pytest

from labctl.core.errors import LimitError
from labctl.core.limits import HF_BREZOVICH, HF_HERGT_DUTZ, BenchLimits, skin_mpe_W_cm2


def test_hf_product_default_is_hergt_dutz():
    limits = BenchLimits()
    assert limits.hf_max == HF_HERGT_DUTZ
    limits.check_amf(230e3, 8.0)  # 1.84e9: allowed
    with pytest.raises(LimitError, match="H\\*f"):
        limits.check_amf(354e3, 15.0)  # 5.3e9


def test_brezovich_is_stricter():
    limits = BenchLimits(hf_max=HF_BREZOVICH)
    with pytest.raises(LimitError, match="4.85e\\+08"):
        limits.check_amf(230e3, 8.0)
    assert limits.max_field_kA_m(230e3) == pytest.approx(HF_BREZOVICH / 230e3 / 1e3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0, "x", None])
def test_field_must_be_finite_and_non_negative(bad):
    with pytest.raises(LimitError):
        BenchLimits().check_amf(230e3, bad)


def test_field_amplitude_limit():
    with pytest.raises(LimitError, match="exceeds the bench limit 10"):
        BenchLimits(field_max_kA_m=10).check_amf(100e3, 12)


def test_laser_irradiance_and_power():
    limits = BenchLimits(irradiance_max_W_cm2=1.0, laser_power_max_W=2.0)
    limits.check_laser(0.5, 0.5)
    with pytest.raises(LimitError, match="irradiance"):
        limits.check_laser(0.6, 0.5)
    with pytest.raises(LimitError, match="power 2.5 W"):
        limits.check_laser(2.5, 10.0)
    assert limits.max_laser_power_W(0.5) == pytest.approx(0.5)
    assert limits.max_laser_power_W(5.0) == pytest.approx(2.0)


def test_temperature_limits_per_role():
    limits = BenchLimits(temperature_max_C={"tumor": 48.0})
    limits.check_temperature("tumor", 47.9)
    limits.check_temperature("skin", 60.0)  # no limit configured
    with pytest.raises(LimitError, match="tumor"):
        limits.check_temperature("tumor", 48.5)


@pytest.mark.parametrize("wavelength, mpe", [(808, 0.330), (1064, 1.0), (600, 0.2)])
def test_skin_mpe_ansi_z136(wavelength, mpe):
    assert skin_mpe_W_cm2(wavelength) == pytest.approx(mpe, rel=0.01)
