"""moto's server, with one correction the stack's buckets need: `python -m infra.sandbox.motoserver ARGS` takes
moto.server's arguments.

moto (5.x) evaluates a bucket policy without the request's context (no aws:SecureTransport, no s3:TlsVersion)
and counts a statement whose Condition it therefore cannot match as DENIED. Every bucket the program makes has
a policy that denies plain HTTP and TLS below 1.2, so in moto every object request to it is refused, whatever
the request. In AWS a statement applies only when its Condition matches. Here a statement with a Condition and
no request context is left out (NEUTRAL), as it is for the requests the stack's hosts and tools make (TLS 1.2
or newer); a statement without a Condition is evaluated as moto does, so an unconditional Deny still denies."""

from __future__ import annotations

import sys
from typing import Any


def correct_condition_evaluation() -> None:
    from moto.iam import access_control

    statement = access_control.IAMPolicyStatement
    original = statement.is_action_permitted

    def is_action_permitted(
        self: Any, action: str, resource: str = "*", principal: str | None = None, incoming: Any = None
    ) -> Any:
        if incoming is None and self._statement.get("Condition"):
            return access_control.PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming)

    statement.is_action_permitted = is_action_permitted  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> None:
    correct_condition_evaluation()
    from moto.server import main as serve

    serve(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
