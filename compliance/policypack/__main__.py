"""phistack's HIPAA policy pack for Pulumi CrossGuard: `pulumi preview --policy-pack compliance/policypack`.
Every policy is generated from the control catalog (compliance/policypack/policies.py); nothing is defined here."""

from pulumi_policy import PolicyPack

from compliance.policypack.policies import PACK_NAME, policies

PolicyPack(
    name=PACK_NAME,
    policies=list(policies()),
    description="HIPAA Security Rule controls from phistack's catalog, judged on the planned stack.",
)
