"""Configuration validation against the workflow's JSON schema, with defaults.

The schema (``workflow/schemas/config.schema.yaml``) is split into files joined by relative
``$ref``; :func:`validate_config` resolves them, fills every default (also inside referenced
files, which ``snakemake.utils.validate`` does not do) and raises :class:`ConfigError` with one
line naming the offending key, e.g. ``config key 'train.epochz': unknown key ...``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["load_schema", "validate_config"]


def load_schema(path) -> dict[str, Any]:
    """The schema with every relative ``$ref`` replaced by the referenced file's content."""
    path = Path(path).resolve()

    def resolve(node, base: Path):
        if isinstance(node, dict):
            if "$ref" in node and not str(node["$ref"]).startswith("#"):
                ref = (base / node["$ref"]).resolve()
                sub = resolve(yaml.safe_load(ref.read_text()), ref.parent)
                sub.pop("$schema", None)
                rest = {k: resolve(v, base) for k, v in node.items() if k != "$ref"}
                merged = dict(sub)
                merged.update(rest)
                return merged
            return {k: resolve(v, base) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, base) for v in node]
        return node

    return resolve(yaml.safe_load(path.read_text()), path.parent)


def _fill_defaults(instance, schema) -> None:
    if not isinstance(instance, dict) or not isinstance(schema, dict):
        return
    props = schema.get("properties", {})
    for key, sub in props.items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in props:
                _fill_defaults(value, extra)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_config(config: dict[str, Any], schema_path) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled); raise :class:`ConfigError` naming the key."""
    import jsonschema  # lazy on purpose: only the workflow extra installs it, the library runs without

    schema = load_schema(schema_path)
    _fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        e = errors[0]
        path = list(e.absolute_path)
        if e.validator == "additionalProperties":
            allowed = sorted(e.schema.get("properties", {}))
            extra = [k for k in e.instance if k not in e.schema.get("properties", {})]
            key = _key(path + extra[:1])
            raise ConfigError(f"config key '{key}': unknown key (misspelled?); allowed here: {allowed}")
        if e.validator == "enum":
            raise ConfigError(f"config key '{_key(path)}': {e.instance!r} is not one of {e.validator_value}")
        if e.validator == "propertyNames":
            raise ConfigError(f"config key '{_key(path)}': name {e.instance!r} must match {e.validator_value.get('pattern')}")
        raise ConfigError(f"config key '{_key(path)}': {e.message}; see workflow/schemas/ for the allowed values")
    return config
