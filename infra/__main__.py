"""Entry point for ``pulumi up`` (Pulumi.yaml: ``main: infra/``). Requires ``pip install -e .`` in .venv."""

import pulumi

from infra.config import parse_client_config
from infra.errors import ConfigError
from infra.program import build, export_all, stack_config

try:
    client_config = parse_client_config(stack_config(), f"Pulumi.{pulumi.get_stack()}.yaml")
except ConfigError as error:
    # RunError: Pulumi prints the message alone, without a stack trace, and declares nothing.
    raise pulumi.RunError(error.render()) from None

export_all(build(client_config))
