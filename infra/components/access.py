"""How staff reach the gateway privately. Never a public endpoint.

- ssm-port-forwarding: nothing is declared; Session Manager tunnels arrive from the host itself (or, with
  several hosts, from a host to the internal load balancer), logged by the Session Manager preferences.
- transit-gateway: a VPC attachment to the client's transit gateway in the app subnets, and routes for the
  client's private networks only (never 0.0.0.0/0).
- client-vpn: an AWS Client VPN endpoint, federated to the client's IdP through SAML, split tunnel,
  connection logs to an encrypted log group, authorized for the VPC range only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming
from infra.components.firewall import allow_tcp
from infra.components.logs import log_group
from infra.config import ClientConfig


@dataclass
class AccessArgs:
    cfg: ClientConfig
    vpc_id: pulumi.Input[str]
    app_subnet_ids: list[pulumi.Output[str]]
    route_table_ids: list[pulumi.Output[str]]
    logs_key_arn: pulumi.Input[str]


class Access(pulumi.ComponentResource):
    # Where gateway clients come from: CIDRs (transit gateway) and/or a security group (client VPN).
    source_cidrs: list[str]
    source_security_group_id: pulumi.Output[str] | None
    attachment_id: pulumi.Output[str] | None
    client_vpn_endpoint_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:access:Access", name, None, opts)
        cfg = args.cfg
        self.source_cidrs = list(cfg.access.client_cidrs)
        self.source_security_group_id = None
        self.attachment_id = None
        self.client_vpn_endpoint_id = None
        if cfg.access.mode == "transit-gateway":
            self._transit_gateway(name, args)
        elif cfg.access.mode == "client-vpn":
            self._client_vpn(name, args)
        self.register_outputs(
            {
                "mode": cfg.access.mode,
                "source_cidrs": self.source_cidrs,
                "attachment_id": self.attachment_id,
                "client_vpn_endpoint_id": self.client_vpn_endpoint_id,
                "source_security_group_id": self.source_security_group_id,
            }
        )

    def _transit_gateway(self, name: str, args: AccessArgs) -> None:
        cfg = args.cfg
        assert cfg.access.transit_gateway_id is not None  # guaranteed by AccessConfig
        attachment = aws.ec2transitgateway.VpcAttachment(
            f"{name}-tgw-attachment",
            transit_gateway_id=cfg.access.transit_gateway_id,
            vpc_id=args.vpc_id,
            subnet_ids=args.app_subnet_ids,
            dns_support="enable",
            ipv6_support="disable",
            tags=naming.tags(cfg, "access", naming.physical(cfg)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for t, table_id in enumerate(args.route_table_ids):
            for c, cidr in enumerate(cfg.access.client_cidrs):
                aws.ec2.Route(
                    f"{name}-rt-{t}-client-{c}",
                    route_table_id=table_id,
                    destination_cidr_block=cidr,
                    transit_gateway_id=cfg.access.transit_gateway_id,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
                )
        self.attachment_id = attachment.id

    def _client_vpn(self, name: str, args: AccessArgs) -> None:
        cfg = args.cfg
        vpn = cfg.access.client_vpn
        assert vpn is not None  # guaranteed by AccessConfig
        sg = aws.ec2.SecurityGroup(
            f"{name}-vpn-sg",
            vpc_id=args.vpc_id,
            description="phistack client VPN: to the gateway port only",
            tags=naming.tags(cfg, "access", naming.physical(cfg, "client-vpn")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        allow_tcp(
            "out",
            f"{name}-vpn-sg-to-gateway",
            self,
            sg.id,
            cfg.gateway_port,
            "VPN clients to the RAG gateway",
            cidr=cfg.vpc_cidr,
        )
        group = log_group(
            self, f"{name}-vpn-logs", cfg, naming.log_group_name(cfg, "client-vpn"), args.logs_key_arn, "access"
        )
        stream = aws.cloudwatch.LogStream(
            f"{name}-vpn-log-stream",
            log_group_name=group.name,
            name="connections",
            opts=pulumi.ResourceOptions(parent=self),
        )
        endpoint = aws.ec2clientvpn.Endpoint(
            f"{name}-client-vpn",
            description=f"phistack {cfg.client} private gateway access",
            server_certificate_arn=vpn.server_certificate_arn,
            client_cidr_block=vpn.client_cidr,
            authentication_options=[{"type": "federated-authentication", "saml_provider_arn": vpn.saml_provider_arn}],
            connection_log_options={
                "enabled": True,
                "cloudwatch_log_group": group.name,
                "cloudwatch_log_stream": stream.name,
            },
            split_tunnel=True,
            # The VPC resolver (base + 2), so clients resolve the stack's private names.
            dns_servers=[str(cfg.network.network_address + 2)],
            transport_protocol="tcp",
            vpc_id=args.vpc_id,
            security_group_ids=[sg.id],
            self_service_portal="disabled",
            session_timeout_hours=8,
            tags=naming.tags(cfg, "access", naming.physical(cfg)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for i, subnet_id in enumerate(args.app_subnet_ids):
            aws.ec2clientvpn.NetworkAssociation(
                f"{name}-client-vpn-assoc-{i}",
                client_vpn_endpoint_id=endpoint.id,
                subnet_id=subnet_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
        aws.ec2clientvpn.AuthorizationRule(
            f"{name}-client-vpn-authz",
            client_vpn_endpoint_id=endpoint.id,
            target_network_cidr=cfg.vpc_cidr,
            authorize_all_groups=True,
            description="The stack's VPC only",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.source_security_group_id = sg.id
        self.client_vpn_endpoint_id = endpoint.id
