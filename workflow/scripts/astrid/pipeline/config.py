"""Validation of the workflow configuration against its JSON schema.

Snakemake's own ``validate`` reports the first problem in jsonschema's words; a user who
mistyped a key in a 200-line config wants every problem, each with the dotted key it is
about, before a single job starts.
"""

from collections.abc import Iterable, Mapping
from pathlib import Path

import jsonschema
import yaml

# The library lives in workflow/scripts/astrid: the workflow (its Snakefile and schemas) is
# two folders up, wherever the workflow itself was put (a clone, a deployment's module).
WORKFLOW_DIR = Path(__file__).resolve().parents[3]
SNAKEFILE = WORKFLOW_DIR / "Snakefile"
SCHEMA = WORKFLOW_DIR / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = WORKFLOW_DIR.parent / "config" / "config.yaml"


class ConfigError(ValueError):
    """The configuration does not match the schema."""


def _key(error):
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        prefix = f"{path}." if path else ""
        return ", ".join(f"{prefix}{name}" for name in unknown), "unknown key (a typo?)"
    return path or "(top level)", error.message


def config_problems(config: Mapping, schema: Mapping) -> list[str]:
    """Every schema violation of ``config`` as ``"key: problem"`` sentences, sorted.

    Parameters
    ----------
    config : mapping
        The workflow's configuration.
    schema : mapping
        The JSON schema (draft 2020-12) it must match.

    Returns
    -------
    list of str
        One ``"config key '<dotted key>': <problem>"`` sentence per problem, without
        duplicates; empty when the configuration is valid.
    """
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(config):
        key, message = _key(error)
        problems.append(f"config key '{key}': {message}")
    return sorted(set(problems))


def check_config(config: Mapping, schema_path: Path | str) -> dict:
    """Raise :class:`ConfigError` listing every problem of ``config``; return the schema.

    Parameters
    ----------
    config : mapping
        The workflow's configuration.
    schema_path : pathlib.Path or str
        The YAML file of the JSON schema.

    Returns
    -------
    dict
        The schema, as read.

    Raises
    ------
    ConfigError
        When the configuration does not match, naming every problem.
    """
    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    problems = config_problems(config, schema)
    if problems:
        raise ConfigError(f"the configuration does not match {schema_path}:\n  " + "\n  ".join(problems))
    return schema


def merge(base: dict, extra: Mapping) -> dict:
    """Deep-merge ``extra`` into ``base`` key by key, as Snakemake merges --configfile.

    Parameters
    ----------
    base : dict
        The configuration merged into; changed in place.
    extra : mapping
        Values that win: nested dicts are merged, anything else replaces.

    Returns
    -------
    dict
        ``base`` itself.
    """
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def load_config(configfiles: Iterable[Path | str] = (), defaults: Path | str | None = None) -> dict:
    """The workflow's default configuration with ``configfiles`` merged over it in order,
    checked against the schema (:class:`ConfigError` names every problem), for the tools
    outside Snakemake (monitor, schedule).

    Parameters
    ----------
    configfiles : iterable of pathlib.Path or str
        Site or environment files, as given to Snakemake.
    defaults : pathlib.Path or str, optional
        The default configuration: ``config/config.yaml`` of the working folder when there
        is one (a deployment), else the one beside this workflow.

    Returns
    -------
    dict
        The merged, checked configuration.

    Raises
    ------
    ConfigError
        When the merged configuration does not match the schema.
    """
    local = Path("config") / "config.yaml"
    defaults = Path(defaults) if defaults else local if local.is_file() else DEFAULT_CONFIG
    config = yaml.safe_load(defaults.read_text())
    for extra in configfiles:
        merge(config, yaml.safe_load(Path(extra).read_text()) or {})
    check_config(config, SCHEMA)
    return config
