"""Protocol files: structure, plan arguments and types, kinds, and the metadata a run records."""

from pathlib import Path

import pytest

from labctl.bench import Bench
from labctl.config.yaml_loading import load_yaml
from labctl.core.errors import ConfigError, LimitError
from labctl.protocol.runner import bench_path, build_steps, file_kind, load_protocol, validate_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROTOCOLS = sorted((EXAMPLES / "protocols").glob("*.yaml"))

SAR = """\
protocol: p
bench: ../benches/sim-vial.yaml
metadata: {sample_id: FF-1, operator: me, batch: B7}
steps:
  - plan: sar_measurement
    metadata: {repeat: 2}
    args:
      frequency: 230000
      field: 8
      heat_time: 100
      cool_time: 20
      equilibrate: 0
      baseline: 10
      sample: {heat_capacity_J_per_K: 5.0, iron_mass_mg: 2.0}
"""


def test_every_plan_has_an_example_protocol():
    from labctl import plans

    used = {load_protocol(p)[0].steps[0].plan for p in PROTOCOLS}
    wanted = {
        "sar_measurement",
        "magnetic_hyperthermia",
        "photothermal_therapy",
        "photothermal_conversion",
        "multispectral_optoacoustic",
        "image_guided_hyperthermia",
    }
    assert wanted <= used <= set(plans.__all__)


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda p: p.stem)
def test_example_protocols_load_and_name_their_bench(path):
    protocol, doc = load_protocol(path)
    assert protocol.metadata.operator
    bench = bench_path(protocol, doc)
    assert bench is not None and bench.exists()


def test_missing_required_argument_names_it():
    text = SAR.replace("      heat_time: 100\n", "")
    with pytest.raises(
        ConfigError,
        match=r"<text>, line 7, key steps\.0\.args: plan "
        r"'sar_measurement' needs 'heat_time'",
    ):
        load_protocol(text=text)


def test_argument_types_follow_the_plan_signature():
    with pytest.raises(
        ConfigError,
        match=r"line 9, key steps\.0\.args\.field: field must be "
        r"float, got 'eight'",
    ):
        load_protocol(text=SAR.replace("field: 8", "field: eight"))
    with pytest.raises(ConfigError, match=r"sample must be dict, got 'vial'"):
        load_protocol(
            text=SAR.replace(
                "sample: {heat_capacity_J_per_K: 5.0, iron_mass_mg: 2.0}", "sample: vial"
            )
        )
    load_protocol(text=SAR.replace("field: 8", "field: 8.5"))  # ints and floats both fine


def test_device_parameters_are_not_arguments():
    with pytest.raises(ConfigError, match="has no argument 'amf'"):
        load_protocol(text=SAR.replace("      field: 8\n", "      field: 8\n      amf: coil\n"))


def test_file_kind():
    assert file_kind(load_yaml(text=SAR)) == "protocol"
    assert file_kind(load_yaml(EXAMPLES / "benches" / "sim-vial.yaml")) == "bench"
    with pytest.raises(ConfigError, match="neither a bench file"):
        file_kind(load_yaml(text="a: 1\n"))


def test_limit_errors_point_at_the_argument(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(
        SAR.replace(
            "../benches/sim-vial.yaml", str(EXAMPLES / "benches" / "sim-vial.yaml")
        ).replace("field: 8", "field: 25")
    )
    with pytest.raises(LimitError, match=r"line 9, key steps\.0\.args\.field: .*25 kA/m"):
        validate_file(p)


def test_protocol_metadata_reaches_the_start_document(tmp_path):
    protocol, doc = load_protocol(text=SAR)
    docs = []
    with Bench.from_file(EXAMPLES / "benches" / "sim-vial.yaml", data_dir=tmp_path) as bench:
        bench.RE.subscribe(lambda name, d: docs.append((name, d)))
        (plan,) = build_steps(protocol, doc, bench)
        bench.RE(plan)
    start = next(d for n, d in docs if n == "start")
    assert start["sample_id"] == "FF-1" and start["operator"] == "me"
    assert start["batch"] == "B7"  # extra metadata keys are kept
    assert start["repeat"] == 2  # step metadata
    assert start["protocol"] == "p" and start["protocol_step"] == 0
    assert next(d for n, d in docs if n == "stop")["exit_status"] == "success"


def test_yaml_lists_stand_for_tuples():
    guided = """\
protocol: g
steps:
  - plan: image_guided_hyperthermia
    args: {target: 43, hold: 60, frequency: 230000, max_field: 12, probe_position: %s}
"""
    load_protocol(text=guided % "[0.0, 2.5]")  # tuple[float, float]: a list is fine
    with pytest.raises(ConfigError, match=r"probe_position must be tuple\[float, float\]"):
        load_protocol(text=guided % "[0.0, deep]")
