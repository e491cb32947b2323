"""Creators for Aurora (the vector store with engine aurora): the cluster parameter group with its parameters, the
subnet group, the cluster (with its RDS-managed owner secret) and its instances."""

from __future__ import annotations

from typing import Any

from infra.sandbox.engine import Created, Creator, Inputs, Sandbox, tag_list


def cluster_parameter_group(sb: Sandbox, name: str, i: Inputs) -> Created:
    rds = sb.client("rds")
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=i["name"],
        DBParameterGroupFamily=i["family"],
        Description=i.get("description") or i["name"],
        Tags=tag_list(i),
    )
    parameters = [
        {"ParameterName": p["name"], "ParameterValue": p["value"], "ApplyMethod": p.get("applyMethod", "immediate")}
        for p in i.get("parameters") or []
    ]
    for start in range(0, len(parameters), 20):  # the API takes 20 at a time
        rds.modify_db_cluster_parameter_group(
            DBClusterParameterGroupName=i["name"], Parameters=parameters[start : start + 20]
        )
    return i["name"], {"arn": f"arn:aws:rds:{sb.cfg.region}:{sb.account}:cluster-pg:{i['name']}", "name": i["name"]}


def subnet_group(sb: Sandbox, name: str, i: Inputs) -> Created:
    created = sb.client("rds").create_db_subnet_group(
        DBSubnetGroupName=i["name"],
        DBSubnetGroupDescription=i.get("description") or "Managed by Pulumi",
        SubnetIds=i["subnetIds"],
        Tags=tag_list(i),
    )["DBSubnetGroup"]
    return i["name"], {"arn": created["DBSubnetGroupArn"], "name": i["name"]}


def cluster(sb: Sandbox, name: str, i: Inputs) -> Created:
    scaling = i.get("serverlessv2ScalingConfiguration") or {}
    args: dict[str, Any] = {
        "DBClusterIdentifier": i["clusterIdentifier"],
        "Engine": i["engine"],
        "EngineMode": i.get("engineMode", "provisioned"),
        "EngineVersion": i["engineVersion"],
        "DatabaseName": i["databaseName"],
        "MasterUsername": i["masterUsername"],
        "ManageMasterUserPassword": bool(i.get("manageMasterUserPassword")),
        "MasterUserSecretKmsKeyId": i.get("masterUserSecretKmsKeyId"),
        "StorageEncrypted": bool(i.get("storageEncrypted")),
        "KmsKeyId": i.get("kmsKeyId"),
        "EnableIAMDatabaseAuthentication": bool(i.get("iamDatabaseAuthenticationEnabled")),
        "DBSubnetGroupName": i["dbSubnetGroupName"],
        "VpcSecurityGroupIds": i.get("vpcSecurityGroupIds") or [],
        "DBClusterParameterGroupName": i["dbClusterParameterGroupName"],
        "BackupRetentionPeriod": int(i["backupRetentionPeriod"]),
        "PreferredBackupWindow": i.get("preferredBackupWindow"),
        "CopyTagsToSnapshot": bool(i.get("copyTagsToSnapshot")),
        "DeletionProtection": bool(i.get("deletionProtection")),
        "EnableCloudwatchLogsExports": i.get("enabledCloudwatchLogsExports") or [],
        "Tags": tag_list(i),
    }
    if scaling:
        args["ServerlessV2ScalingConfiguration"] = {
            "MinCapacity": float(scaling["minCapacity"]),
            "MaxCapacity": float(scaling["maxCapacity"]),
        }
    c = sb.client("rds").create_db_cluster(**{k: v for k, v in args.items() if v is not None})["DBCluster"]
    secret = c.get("MasterUserSecret") or {}
    return c["DBClusterIdentifier"], {
        "arn": c["DBClusterArn"],
        "endpoint": c["Endpoint"],
        "readerEndpoint": c.get("ReaderEndpoint", ""),
        "clusterResourceId": c.get("DbClusterResourceId", ""),
        "masterUserSecrets": [
            {"secretArn": secret.get("SecretArn"), "kmsKeyId": secret.get("KmsKeyId"), "secretStatus": "active"}
        ],
    }


def cluster_instance(sb: Sandbox, name: str, i: Inputs) -> Created:
    args: dict[str, Any] = {
        "DBInstanceIdentifier": i["identifier"],
        "DBClusterIdentifier": i["clusterIdentifier"],
        "Engine": i["engine"],
        "DBInstanceClass": i["instanceClass"],
        "DBSubnetGroupName": i.get("dbSubnetGroupName"),
        "AvailabilityZone": i.get("availabilityZone"),
        "PubliclyAccessible": bool(i.get("publiclyAccessible")),
        "EnablePerformanceInsights": bool(i.get("performanceInsightsEnabled")),
        "PerformanceInsightsKMSKeyId": i.get("performanceInsightsKmsKeyId"),
        "AutoMinorVersionUpgrade": bool(i.get("autoMinorVersionUpgrade")),
        "CACertificateIdentifier": i.get("caCertIdentifier"),
        "CopyTagsToSnapshot": bool(i.get("copyTagsToSnapshot")),
        "Tags": tag_list(i),
    }
    db = sb.client("rds").create_db_instance(**{k: v for k, v in args.items() if v is not None})["DBInstance"]
    return db["DBInstanceIdentifier"], {"arn": db["DBInstanceArn"]}


CREATORS: dict[str, Creator] = {
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": cluster_parameter_group,
    "aws:rds/subnetGroup:SubnetGroup": subnet_group,
    "aws:rds/cluster:Cluster": cluster,
    "aws:rds/clusterInstance:ClusterInstance": cluster_instance,
}
