"""The gateway on a shared, managed database (Aurora): IAM tokens per connection, renewed before they expire,
TLS verify-full against the database's CA, migrations as the owner from Secrets Manager, once however many
hosts start them.

The server is a real PostgreSQL with TLS and SCRAM only (as rds.force_ssl and the hosts' pg_hba). What only AWS
can do, checking an IAM token's signature, is stood in for by `TokenVerifierStandIn`: each token the gateway
signs (with botocore's real RDS signer) becomes the role's only valid password, so a connection opened with a
replaced token is refused, as RDS refuses an expired one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from infra.hosts.ca import issue, new_ca
from stack.cli import main
from stack.db import pooled
from stack.dbauth import RENEW_AFTER_S, IamTokens, owner_credentials
from stack.dev.postgres import LocalPostgres, system_bin_dir
from stack.errors import DatabaseError
from stack.migrate import migrate
from tests.stack.conftest import local_postgres

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 for credentials from a test
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPostgres, Path]]:
    """Debian's PostgreSQL (the embedded one has no TLS), taking TLS + SCRAM only, its certificate for `localhost`
    from a CA of its own. It holds no schema: what is tested on it is how the gateway logs in."""
    folder = tmp_path_factory.mktemp("db-tls")
    ca = new_ca("db-test")
    server = issue(ca, "localhost", ["localhost"], ["127.0.0.1"], ["server"])
    paths = {name: folder / name for name in ("ca.crt", "server.crt", "server.key")}
    for name, text in zip(paths, (ca.cert_pem, server.cert_pem, server.key_pem), strict=True):
        paths[name].write_text(text)
    tls = (paths["server.crt"], paths["server.key"])
    with local_postgres("phistack-pg-tls-", tls=tls, bin_dir=system_bin_dir()) as pg:
        with psycopg.connect(pg.dsn(dbname="postgres"), autocommit=True) as conn:
            conn.execute("CREATE ROLE owner LOGIN PASSWORD 'owner-pw'")
            conn.execute("CREATE ROLE phistack_app LOGIN")  # no password until a token is signed
            conn.execute("CREATE DATABASE phistack_shared OWNER owner")
        yield pg, paths["ca.crt"]


@pytest.fixture(scope="module")
def owned_postgres() -> Iterator[LocalPostgres]:
    """The embedded PostgreSQL (with pgvector), SCRAM for every role but the superuser, and an owner that is not a
    superuser, as Aurora's master user is not: the migrations run as it."""
    with local_postgres("phistack-pg-scram-", password_auth=True) as pg:
        with psycopg.connect(pg.dsn(dbname="postgres"), autocommit=True) as conn:
            conn.execute("CREATE ROLE owner LOGIN CREATEROLE PASSWORD 'owner-pw'")
        yield pg


def dsn(port: int, ca: Path | None, user: str = "phistack_app", dbname: str = "phistack_shared") -> str:
    """As the inventory writes it for Aurora: the cluster's name, verify-full against its CA, no password."""
    tls = f"host=localhost sslmode=verify-full sslrootcert={ca}" if ca else "host=127.0.0.1 sslmode=disable"
    return f"{tls} port={port} dbname={dbname} user={user}"


def new_database(pg: LocalPostgres, name: str) -> str:
    """A database the owner owns, with pgvector created in it: on Aurora the master user (rds_superuser) may
    create the extensions AWS allows; a plain PostgreSQL reserves pgvector to superusers."""
    with psycopg.connect(pg.dsn(dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER owner')
    with psycopg.connect(pg.dsn(dbname=name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    return dsn(pg.port, None, user="owner", dbname=name)


class TokenVerifierStandIn:
    """RDS's side of IAM authentication, stood in for: signs with botocore's real RDS signer, then makes that token
    the role's one valid password (the previous token stops working, as an expired one does on RDS)."""

    def __init__(self, superuser_dsn: str) -> None:
        self._rds = boto3.client("rds", region_name="us-east-1")
        self._superuser_dsn = superuser_dsn
        self.meta = self._rds.meta
        self.tokens: list[str] = []

    def generate_db_auth_token(self, **kwargs: Any) -> str:
        token: str = self._rds.generate_db_auth_token(**kwargs)
        with psycopg.connect(self._superuser_dsn, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    psycopg.sql.Identifier(kwargs["DBUsername"]), psycopg.sql.Literal(token)
                )
            )
        self.tokens.append(token)
        return token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_iam_token_is_signed_for_the_dsns_host_port_and_user_and_renewed_before_it_expires() -> None:
    clock = Clock()
    tokens = IamTokens("host=db.cluster-x.us-east-1.rds.amazonaws.com port=5432 user=phistack_app", clock=clock)
    first = tokens.password()
    assert first.startswith("db.cluster-x.us-east-1.rds.amazonaws.com:5432/?Action=connect&DBUser=phistack_app&")
    assert "X-Amz-Expires=900" in first and "X-Amz-Signature=" in first
    clock.now += RENEW_AFTER_S - 1
    assert tokens.password() == first and tokens.signed == 1  # one token serves every connection for 10 minutes
    clock.now += 1
    tokens.password()
    assert tokens.signed == 2  # renewed 5 minutes before the old one expires


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("host=db port=5432 user=phistack_app password=secret", "has a password or passfile"),
        ("host=db user=phistack_app passfile=/etc/pgpass", "has a password or passfile"),
        ("port=5432 user=phistack_app", "names no host"),
        ("host=db port=5432", "names no user"),
        ("host=db user='unterminated", "not a valid connection string"),
    ],
)
def test_a_dsn_that_cannot_carry_iam_tokens_is_one_line(text: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message) as raised:
        IamTokens(text)
    assert "\n" not in str(raised.value) and "secret" not in str(raised.value)


def test_without_credentials_signing_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(DatabaseError, match="cannot sign an IAM database token: NoCredentialsError"):
        IamTokens("host=db user=phistack_app").password()


def test_the_pool_logs_in_with_a_fresh_token_per_connection_over_verify_full_tls(
    tls_postgres: tuple[LocalPostgres, Path],
) -> None:
    pg, ca = tls_postgres
    verifier, clock = TokenVerifierStandIn(pg.dsn(dbname="postgres")), Clock()
    app_dsn = dsn(pg.port, ca)
    tokens = IamTokens(app_dsn, client=verifier, clock=clock)
    pool, connect = pooled(app_dsn, max_size=4, connect_kwargs=tokens.connect_kwargs)
    try:
        with connect() as conn:
            row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
            assert row is not None and row[0] is True and row[1] in ("TLSv1.2", "TLSv1.3")
            assert conn.execute("SELECT current_user").fetchone() == ("phistack_app",)
        pool.wait()
        opened = pool.get_stats()["pool_size"]
        assert opened >= 2 and tokens.signed == 1  # the pool's first connections opened with one token
        clock.now += RENEW_AFTER_S
        time.sleep(1.1)  # a token is signed to the second: the next one must differ to show the old one refused
        held = [pool.getconn() for _ in range(opened + 1)]  # more than are open: the pool opens one more
        try:
            assert tokens.signed == 2 and len(verifier.tokens) == 2
            for conn in held:  # connections opened with the replaced token stay open, as on RDS
                assert conn.execute("SELECT 1").fetchone() == (1,)
                conn.rollback()
        finally:
            for conn in held:
                pool.putconn(conn)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(app_dsn, password=verifier.tokens[0]).close()  # the replaced token no longer logs in
    finally:
        pool.close()


def test_tls_is_verified_against_the_databases_ca_and_never_optional(
    tls_postgres: tuple[LocalPostgres, Path], tmp_path: Path
) -> None:
    pg, ca = tls_postgres
    other = tmp_path / "other-ca.crt"
    other.write_text(new_ca("someone-else").cert_pem)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(dsn(pg.port, other, user="owner"), password="owner-pw").close()
    wrong_name = dsn(pg.port, ca, user="owner").replace("host=localhost", "host=127.0.0.2 hostaddr=127.0.0.1")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(wrong_name, password="owner-pw").close()
    plain = f"host=127.0.0.1 port={pg.port} dbname=phistack_shared user=owner sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(plain, password="owner-pw").close()


def test_migrations_run_as_the_owner_from_secrets_manager_once_however_many_start(
    owned_postgres: LocalPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    owner_dsn = new_database(owned_postgres, "phistack_fresh")
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        secret = json.dumps({"username": "owner", "password": "owner-pw"})
        arn = sm.create_secret(Name="rds!cluster-1", SecretString=secret)["ARN"]
        credentials = owner_credentials(arn)
        assert credentials == {"user": "owner", "password": "owner-pw"}
        with pytest.raises(DatabaseError, match="password authentication failed"):
            migrate(owner_dsn, credentials={"password": "wrong"})  # the password is checked, not trusted
        # Three hosts' deploys start the migrations at once: each file is applied once, and none fails.
        results: list[list[str] | BaseException] = []

        def run() -> None:
            try:
                results.append(migrate(owner_dsn, credentials=credentials))
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                results.append(exc)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert all(isinstance(r, list) for r in results), results
        applied = [name for r in results if isinstance(r, list) for name in r]
        assert len(applied) == len(set(applied)) and any(n.startswith("0006_") for n in applied)
        assert sum(1 for r in results if r == []) == 2  # the two that waited found the work done
        # The command a deploy runs once: the DSN has no user or password; the secret gives both.
        assert main(["migrate", "--dsn", owner_dsn.replace("user=owner", ""), "--owner-secret", arn]) == 0
        assert capsys.readouterr().out.strip() == "up to date"
        assert main(["migrate", "--dsn", owner_dsn, "--owner-secret", "rds!missing"]) == 3
        assert "--owner-secret rds!missing: ResourceNotFoundException" in capsys.readouterr().err
        sm.create_secret(Name="not-json", SecretString="owner-pw")
        with pytest.raises(DatabaseError, match="not-json: not a JSON object with username and password") as bad:
            owner_credentials("not-json")
        assert "owner-pw" not in str(bad.value)


def test_on_aurora_the_app_role_logs_in_by_iam_only(owned_postgres: LocalPostgres) -> None:
    """rds_iam exists only on RDS and Aurora; made here, migration 0006 grants it to the application role."""
    with psycopg.connect(owned_postgres.dsn(dbname="postgres"), autocommit=True) as conn:
        conn.execute("CREATE ROLE rds_iam")
        conn.execute("GRANT rds_iam TO owner WITH ADMIN OPTION")  # as RDS gives it to rds_superuser
    owner_dsn = new_database(owned_postgres, "phistack_iam")
    migrate(owner_dsn, credentials={"password": "owner-pw"})
    with psycopg.connect(owned_postgres.dsn(dbname="phistack_iam")) as conn:
        member = conn.execute("SELECT pg_has_role('phistack_app', 'rds_iam', 'MEMBER')").fetchone()
        auditor = conn.execute("SELECT pg_has_role('phistack_auditor', 'rds_iam', 'MEMBER')").fetchone()
    assert member == auditor == (True,)  # the audit reader too (0007): the hosts anchor and ship as it


def test_the_audit_commands_log_in_as_the_audit_reader_with_iam_tokens(
    owned_postgres: LocalPostgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On Aurora the hosts anchor, ship and check the trail as phistack_auditor with --iam-auth: each command signs
    a token for that user (RDS's side stood in for, as above) and logs in with it; without one SCRAM refuses."""
    from stack.cli import main

    owner_dsn = new_database(owned_postgres, "phistack_trail")
    migrate(owner_dsn, credentials={"password": "owner-pw"})
    verifier = TokenVerifierStandIn(owned_postgres.dsn(dbname="postgres"))
    monkeypatch.setattr(boto3.session.Session, "client", lambda self, name, **kw: verifier)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    auditor = dsn(owned_postgres.port, None, user="phistack_auditor", dbname="phistack_trail")
    iam = ["--dsn", auditor, "--iam-auth", "--region", "us-east-1"]
    key, anchors = tmp_path / "anchor.pem", str(tmp_path / "anchors")
    assert main(["audit", "anchor-key", "--out", str(key)]) == 0
    assert main(["audit", "anchor", *iam, "--host", "gw-a", "--key-file", str(key), "--to", anchors]) == 0
    assert main(["audit", "ship", *iam, "--out", str(tmp_path / "events.jsonl")]) == 0
    assert main(["audit", "verify", *iam, "--anchors", anchors, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["outcome"] == "intact"
    assert len(verifier.tokens) == 3 and all("DBUser=phistack_auditor" in t for t in verifier.tokens)
    assert main(["audit", "verify", "--dsn", auditor]) == 3  # no token, no password: refused
    assert "password" in capsys.readouterr().err
