"""Stage settings from one place: every dataclass in skelvis.settings mirrors its schema file,
field by field, with the schema's defaults; unknown keys are refused, not dropped."""
from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest
import yaml

from skelvis.config import load_schema, validate_config
from skelvis.errors import ConfigError
from skelvis.settings import STAGES, TOP_LEVEL_KEYS, DatasetConfig, MaximizeConfig, TrainConfig

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "workflow" / "schemas"
TOP = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())["properties"]


def _listify(v):
    return [_listify(x) for x in v] if isinstance(v, tuple) else v


def _check_against(cls, schema):
    props = schema["properties"]
    names = [f.name for f in fields(cls)]
    own = [n for n in names if n not in TOP_LEVEL_KEYS]
    assert sorted(own) == sorted(props), f"{cls.__name__} fields {sorted(own)} != schema keys {sorted(props)}"
    defaults = cls.defaults()
    for name in names:
        want = (props[name] if name in props else TOP[name])["default"]
        assert _listify(defaults[name]) == want, f"{cls.__name__}.{name}: {defaults[name]!r} != schema {want!r}"


def test_every_stage_schema_has_its_dataclass():
    assert sorted(STAGES) == sorted(p.name.split(".")[0] for p in (SCHEMAS / "stages").glob("*.schema.yaml"))


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dataclass_defaults_are_the_schema_defaults(stage):
    _check_against(STAGES[stage], yaml.safe_load((SCHEMAS / "stages" / f"{stage}.schema.yaml").read_text()))


def test_dataset_defaults_are_the_schema_defaults():
    _check_against(DatasetConfig, yaml.safe_load((SCHEMAS / "dataset.schema.yaml").read_text()))


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_validated_empty_config_builds_the_default_dataclass(stage):
    """What the workflow passes for a section left out of the config is what the library defaults to."""
    cfg = validate_config({"datasets": ["synthetic"], "data": {"synthetic": {}}, "archs": ["lstm"],
                           "models": {"lstm": {}}}, SCHEMAS / "config.schema.yaml")
    built = STAGES[stage].from_config(cfg)
    default = STAGES[stage]()
    assert built == default


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_unknown_key_is_refused_naming_it(stage):
    with pytest.raises(ConfigError, match=rf"'{stage}\.epochz'.*unknown key"):
        STAGES[stage].from_section({"epochz": 3})


def test_top_level_keys_are_taken_only_where_the_stage_uses_them():
    cfg = TrainConfig.from_section({"epochs": 3, "lr_decay_epochs": 2}, seed=7, device="cpu")
    assert (cfg.epochs, cfg.lr_decay_epochs, cfg.seed, cfg.device, cfg.batch_size) == (3, 2, 7, "cpu", 32)
    with pytest.raises(ConfigError, match="'seed'"):
        STAGES["viewer"].from_section({}, seed=1)
    with pytest.raises(ConfigError, match="'train.seed'"):   # seed is top-level, not a train key
        TrainConfig.from_section({"seed": 1})


def test_settings_are_frozen_and_lists_become_tuples():
    cfg = MaximizeConfig.from_section({"classes": ["throw", "kick"]})
    assert cfg.classes == ("throw", "kick")
    with pytest.raises(FrozenInstanceError):
        cfg.iterations = 3


def test_dataset_section_unknown_key_names_the_dataset():
    from skelvis.datasets.prepare import prepare_dataset
    with pytest.raises(ConfigError, match=r"'data\.mine\.max_frame'.*unknown key"):
        prepare_dataset("mine", {"max_frame": 10})


def test_synthetic_generator_defaults_are_the_schema_defaults():
    """skelvis.datasets.synthetic.SyntheticConfig (the generator's knobs) against
    data.<name>.synthetic in the dataset schema: same keys, same defaults (nested shortcut too).
    max_frames and seed come from data.<name>.max_frames and the top-level seed; bone_jitter is
    the generator's own constant (not a config key)."""
    from dataclasses import MISSING

    from skelvis.datasets.synthetic import SyntheticConfig

    dataset = load_schema(SCHEMAS / "dataset.schema.yaml")["properties"]
    props = dataset["synthetic"]["properties"]
    names = [f.name for f in fields(SyntheticConfig)]
    assert sorted(set(names) - set(props)) == ["bone_jitter", "max_frames", "seed"]
    assert set(props) <= set(names)
    for f in fields(SyntheticConfig):
        default = f.default if f.default is not MISSING else f.default_factory()
        if f.name == "max_frames":
            want = dataset["max_frames"]["default"]
        elif f.name == "seed":
            want = TOP["seed"]["default"]
        elif f.name == "bone_jitter":
            continue
        elif props[f.name].get("type") == "object":
            want = {k: v["default"] for k, v in props[f.name]["properties"].items()}
        else:
            want = props[f.name]["default"]
        assert _listify(tuple(default) if isinstance(default, list) else default) == want, \
            f"SyntheticConfig.{f.name}: {default!r} != schema {want!r}"
