from pathlib import Path

import pytest
import yaml

from skelvis.config import load_schema, validate_config
from skelvis.errors import ConfigError

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _default():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_gets_defaults():
    cfg = validate_config(_default(), SCHEMA)
    assert cfg["evaluate"]["confusion_split"] == "test"          # default inside a $ref'd file
    assert cfg["data"]["synthetic"]["synthetic"]["noise"] == pytest.approx(0.008)
    assert cfg["models"]["lstm"]["dropout"] == 0.0


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["train"].__setitem__("epochz", 3), "train.epochz"),
    (lambda c: c.__setitem__("sead", 3), "sead"),
    (lambda c: c["data"]["synthetic"]["synthetic"].__setitem__("subjets", 3), "data.synthetic.synthetic.subjets"),
    (lambda c: c["models"]["lstm"].__setitem__("hiden_size", 3), "models.lstm.hiden_size"),
])
def test_misspelled_key_is_named(mutate, key):
    cfg = _default()
    mutate(cfg)
    with pytest.raises(ConfigError, match=f"'{key}'.*unknown key"):
        validate_config(cfg, SCHEMA)


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["train"].__setitem__("epochs", "ten"), "train.epochs"),
    (lambda c: c["train"].__setitem__("lr", -1), "train.lr"),
    (lambda c: c.__setitem__("device", "tpu"), "device"),
    (lambda c: c["models"]["lstm"].__setitem__("cell", "rnn"), "models.lstm.cell"),
])
def test_wrong_type_or_range_is_named(mutate, key):
    cfg = _default()
    mutate(cfg)
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate_config(cfg, SCHEMA)


def _walk(schema, path=""):
    if isinstance(schema, dict) and schema.get("type") == "object":
        assert schema.get("additionalProperties") is not True and "additionalProperties" in schema, \
            f"{path or '<top>'}: needs additionalProperties false (or a schema for named entries)"
        # an override map (default {}: maximize.angle_limits) names optional entries whose absence
        # means "the layout's own value", so they have no default of their own
        overrides = schema.get("default") == {} and "verride" in schema.get("description", "")
        for k, sub in schema.get("properties", {}).items():
            assert "description" in sub, f"{path}.{k} has no description"
            assert "default" in sub or k in schema.get("required", []) or overrides, f"{path}.{k} has no default"
            _walk(sub, f"{path}.{k}")
        if isinstance(schema.get("additionalProperties"), dict):
            _walk(schema["additionalProperties"], f"{path}.<name>")


def test_every_key_has_type_default_description_and_no_extra_keys():
    _walk(load_schema(SCHEMA))
