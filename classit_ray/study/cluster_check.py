"""Check a `ray up` cluster YAML before it costs anything: Ray's own schema, then this project's
security posture.

    classit-ray check-cluster cluster.yaml

Ray's schema (`validate_config`) catches typos and misplaced fields; its error is turned into one
line naming the file and the field path. The posture checks:

- every `ray start` runs with `RAY_AUTH_MODE=token` (a fresh `ray start` turns token
  authentication on only when a token file already exists), nothing sets it to `disabled`, and
  the token file is mounted on every node;
- the dashboard binds to 127.0.0.1 (reached through `ray dashboard`'s SSH tunnel);
- an AWS security group opens no port to the internet but SSH (22): not the dashboard (8265), the
  GCS (6379) or the client server (10001).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from classit_ray.config import ConfigError

SSH_PORT = 22
TOKEN_FILE = ".ray/auth_token"


def _schema_problem(config: dict) -> str | None:
    import logging

    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    logging.getLogger("ray.autoscaler").setLevel(logging.WARNING)  # its INFO notes are not problems
    try:
        validate_config(prepare_config(dict(config)))
    except jsonschema.ValidationError as e:
        where = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        return f"{where}: {e.message}"
    except (ValueError, KeyError, TypeError) as e:  # prepare_config's own checks
        return f"{type(e).__name__}: {e}"
    return None


def _start_commands(config: dict) -> list[str]:
    return [*config.get("head_start_ray_commands", []), *config.get("worker_start_ray_commands", [])]


def posture_problems(config: dict) -> list[str]:
    """What in `config` weakens the security posture (see the module docstring)."""
    problems = []
    starts = [c for c in _start_commands(config) if re.search(r"\bray start\b", c)]
    for command in starts:
        if "RAY_AUTH_MODE=token" not in command:
            problems.append(
                f"start command without RAY_AUTH_MODE=token (token authentication stays off on a fresh node): {command!r}"
            )
        if "--dashboard-host" in command and "--dashboard-host=127.0.0.1" not in command:
            problems.append(f"dashboard bound beyond localhost; expected --dashboard-host=127.0.0.1: {command!r}")
    every_command = [str(c) for key, value in config.items() if key.endswith("_commands") for c in (value or [])]
    if any(re.search(r"RAY_AUTH_MODE=disabled", c) for c in every_command):
        problems.append("a command sets RAY_AUTH_MODE=disabled; expected token authentication on")
    if starts and not any(str(target).endswith(TOKEN_FILE) for target in (config.get("file_mounts") or {})):
        problems.append(
            f"file_mounts: no ~/{TOKEN_FILE}; expected the token from `ray get-auth-token --generate` mounted on every node"
        )
    provider = config.get("provider") or {}
    for rule in (provider.get("security_group") or {}).get("IpPermissions") or []:
        ports = (rule.get("FromPort"), rule.get("ToPort"))
        if ports != (SSH_PORT, SSH_PORT):
            problems.append(
                f"provider.security_group: ports {ports[0]}-{ports[1]} open; expected SSH ({SSH_PORT}) only "
                "(the dashboard, GCS and client ports stay inside the cluster)"
            )
    return problems


def check_cluster_yaml(path: str | Path) -> dict:
    """The parsed config of `path`; raises one ConfigError listing every problem, each naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(["cluster YAML not found"], source=str(path))
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError([f"not valid YAML ({str(e).splitlines()[0]})"], source=str(path)) from None
    if not isinstance(config, dict):
        raise ConfigError([f"expected a mapping of cluster settings, got {type(config).__name__}"], source=str(path))
    problems = [p for p in [_schema_problem(config)] if p] + posture_problems(config)
    if problems:
        raise ConfigError(problems, source=str(path))
    return config


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: classit-ray check-cluster CLUSTER_YAML", file=sys.stderr)
        return 2
    try:
        config = check_cluster_yaml(argv[0])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    ports = "; security group: SSH only" if (config["provider"].get("security_group")) else ""
    print(
        f"{argv[0]}: valid for `ray up` (provider {config['provider']['type']}); token auth on, dashboard on localhost{ports}"
    )
    return 0
