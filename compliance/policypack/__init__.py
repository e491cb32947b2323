"""The CrossGuard policy pack: ``policies.py`` builds it from the control catalog; ``__main__.py`` is what
`pulumi preview --policy-pack compliance/policypack` runs."""
