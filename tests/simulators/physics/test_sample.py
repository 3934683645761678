import pytest

from labctl.core.errors import ConfigError
from labctl.simulators.physics.magnetics import Nanoparticle
from labctl.simulators.physics.sample import MouseTumor, Vial, make_sample
from labctl.simulators.physics.world import SampleModel


def test_kinds():
    v = make_sample("vial", iron_mg=3.0, T_amb_C=22.0)
    assert isinstance(v, Vial) and isinstance(v, SampleModel)
    assert v.params.iron_mg == 3.0 and v.temperature("sample") == 22.0
    m = make_sample("mouse_tumor", iron_mg_per_mL=5.0, seed=1)
    assert isinstance(m, MouseTumor)
    assert m.truth()["iron_mg"] == pytest.approx(5.0 * m.truth()["tumor_volume_mL"])


def test_unknown_kind_and_parameter():
    with pytest.raises(ConfigError, match="rat_brain"):
        make_sample("rat_brain")
    with pytest.raises(ConfigError, match="'iron_mg_per_mL'"):
        make_sample("vial", iron_mg_per_mL=5.0)  # that is a tumor parameter
    with pytest.raises(ConfigError, match="'tumour_diameter_mm'"):
        make_sample("mouse_tumor", tumour_diameter_mm=6.0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"iron_mg": "lots"}, "iron_mg"),
        ({"iron_mg": -1.0}, "iron_mg"),
        ({"iron_mg": True}, "iron_mg"),
        ({"loss_W_per_K": 0.0}, "loss_W_per_K"),
        ({"seed": 1.5}, "seed"),
        ({"pce": 2.0}, "pce"),
    ],
)
def test_bad_values(params, match):
    with pytest.raises(ConfigError, match=match):
        make_sample("vial", **params)


def test_particle_and_positions():
    v = make_sample("vial", particle={"core_diameter_m": 14e-9, "K_J_m3": 13e3})
    assert v.params.particle == Nanoparticle(core_diameter_m=14e-9, K_J_m3=13e3)
    with pytest.raises(ConfigError, match="particle.size"):
        make_sample("vial", particle={"size": 1.0})
    with pytest.raises(ConfigError, match="core_diameter_m"):
        make_sample("vial", particle={"core_diameter_m": 0.0})
    m = make_sample("mouse_tumor", positions={"deep": [0.0, 0.009]})
    assert "deep" in m.positions
    with pytest.raises(ConfigError, match="deep"):
        make_sample("mouse_tumor", positions={"deep": [0.0]})
    with pytest.raises(ConfigError, match="shadows"):
        make_sample("mouse_tumor", positions={"rectal": [0.0, 0.0]})


def test_variability_is_seeded():
    a = make_sample("mouse_tumor", seed=1, variability=0.2)
    b = make_sample("mouse_tumor", seed=1, variability=0.2)
    c = make_sample("mouse_tumor", seed=2, variability=0.2)
    nominal = make_sample("mouse_tumor", seed=2)
    assert a.params == b.params
    assert a.params.perfusion_tumor != c.params.perfusion_tumor
    assert nominal.params.perfusion_tumor == 1.5e-3
    v1 = make_sample("vial", seed=3, variability=0.1)
    assert v1.params.loss_W_per_K != make_sample("vial").params.loss_W_per_K


def test_the_sample_description_comes_from_the_model_parameters():
    from labctl.simulators.physics.sample import describe_sample

    mouse = describe_sample(make_sample("mouse_tumor"))
    assert "core 15 nm" in mouse["nanoparticle"] and "5 mg Fe per mL tumor" in mouse["dose"]
    other = make_sample(
        "mouse_tumor", particle={"core_diameter_m": 14e-9, "K_J_m3": 13e3}, iron_mg_per_mL=2.5
    )
    d = describe_sample(other)
    assert "core 14 nm" in d["nanoparticle"] and "K 13 kJ/m^3" in d["nanoparticle"]
    assert d["dose"].startswith("2.5 mg Fe per mL")
    vial = describe_sample(make_sample("vial", iron_mg=1.5))
    assert vial["kind"] == "vial" and vial["dose"] == "1.5 mg Fe in the vial"


def test_a_bench_file_can_ask_for_a_polydisperse_particle_with_browns_neel_time():
    sample = make_sample(
        "mouse_tumor",
        particle={
            "core_diameter_m": 15e-9,
            "K_J_m3": 14e3,
            "size_sigma": 0.2,
            "neel_model": "brown",
        },
    )
    assert sample.params.particle.neel_model == "brown"
    assert sample.params.particle.size_sigma == 0.2
    with pytest.raises(ConfigError, match="neel_model"):
        make_sample("mouse_tumor", particle={"neel_model": "fast"})
