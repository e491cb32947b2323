"""`phistack demo --host`: the whole deploy path on this machine. A local Debian 13 host (systemd-nspawn) stands
in for the stack's GPU instance; the example client is applied to an emulated account (moto) bound to the only
address that host can reach, as AWS's APIs are reached through VPC endpoints; the install bundle and the
client's CA go into the stack's own artifact bucket; the real playbooks install the stack with the variables
the stack's outputs give (infra.hosts.inventory.stack_vars) plus what differs on a container
(playbooks/vars/testhost.yml); a clinic user signed in with a stand-in IdP asks the gateway a question; then
the database is restored to a moment between two batches of requests from its continuous archive (the README's
point-in-time restore, phistack/testhost/drill.py); then playbooks/verify.yml gathers the host's evidence for the
audit. What cannot run here: SSM (the host is reached over SSH, and the report waives host-no-ssh for it), a GPU
(the llama.cpp engine serves SmolLM2-135M, and the NVIDIA driver is not installed), kernel audit and an EBS volume
inside a container (those host controls are ERROR, with the reason)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from infra.errors import HostError

if TYPE_CHECKING:
    from phistack.testhost import nspawn

HOST_NAME = "demo-host"
GATEWAY_PORT = 8443  # rag_gateway_port's default
COLLECTION = "clinic-policies"
DOCUMENT_TITLE = "Influenza vaccination policy"
QUESTION = "Which influenza vaccine do patients with an egg allergy receive?"
TOOLS = ("systemd-nspawn", "debootstrap", "ssh", "git")
EMULATOR_KEY = "demo"  # the emulator's access key and secret; never a real account's
AWS_ENV = {"AWS_ACCESS_KEY_ID": EMULATOR_KEY, "AWS_SECRET_ACCESS_KEY": EMULATOR_KEY}

Say = Callable[[str], None]


def check_prerequisites() -> None:
    """One line naming everything this machine lacks for the mode, before anything is created."""
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [tool for tool in TOOLS if shutil.which(tool) is None]
    if not (Path(sys.executable).parent / "ansible-playbook").exists():
        missing.append("ansible-playbook")
    if missing:
        raise HostError(
            "phistack demo --host needs root, systemd-nspawn, debootstrap, ssh, git and ansible-playbook "
            f"(bash scripts/system-deps.sh and scripts/setup.sh install them); missing here: {', '.join(missing)}."
        )


@dataclass(frozen=True)
class Answer:
    question: str
    content: str
    citations: list[dict[str, Any]]
    synced: dict[str, Any] | None = None  # the document put into the bucket: its key, citation source, seconds
    drill: Any = None  # the point-in-time restore rehearsed on the host (phistack.testhost.drill.Drill)


def run(cfg: Any, raw: dict[str, str], context: Any, project: Path, say: Say) -> tuple[Any, Any, Answer]:
    """Everything up to the facts: (facts with the host's evidence, the scan, the gateway's answer)."""
    import boto3

    from infra.sandbox.apply import apply_to_emulator
    from infra.sandbox.server import moto_server
    from phistack.pipeline import live_facts
    from phistack.testhost import bundle, drill, nspawn

    state = project / ".phistack" / "demo-host"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True, mode=0o700)
    say("1/7 the install bundle: Debian 13 packages, the wheels, SmolLM2-135M...")
    built = bundle.ensure(project, say)
    say("2/7 booting a local Debian 13 host (systemd-nspawn, no route beyond this machine)...")
    host = nspawn.up(HOST_NAME)
    try:
        with moto_server(account_id=cfg.account_id, host=host.gateway) as url:
            say(f"3/7 embedded AWS emulator on {url}, the host's only reachable address; applying {cfg.client}...")
            plan, sandbox = apply_to_emulator(cfg, raw, url)
            say(f"    created {len(sandbox.created)} resources")
            session = boto3.Session(
                AWS_ENV["AWS_ACCESS_KEY_ID"], AWS_ENV["AWS_SECRET_ACCESS_KEY"], region_name=cfg.region
            )
            outputs = plan.outputs
            instance = _first_instance(outputs)
            inventory, ca_pem = _stage(session, url, outputs, built, host, instance, project, state, say)
            say(f"4/7 installing the stack on {instance} (the local host) with playbooks/site.yml, over SSH...")
            recap = _playbook(project, inventory, "site.yml", state / "site.log")
            say(f"    {recap}")
            say("5/7 a clinic user, signed in with the stand-in IdP, asks the gateway on the host...")
            answer = _ask(f"https://{host.address}:{GATEWAY_PORT}", ca_pem, state)
            say("    and a document dropped into the stack's document bucket, synced by the host's phistack-sync...")
            synced = _sync_check(f"https://{host.address}:{GATEWAY_PORT}", ca_pem, state, session, url, outputs)
            answer = dataclasses.replace(answer, synced=synced)
            say(f"    retrievable {synced['seconds']:.1f} s after the put, cited as {synced['source']}")
            say(f"    and the README's reconcile, run on the host: {_reconcile(host)}")
            say("6/7 a point-in-time restore: a moment marked, more requests, the database restored to the moment...")
            base, tls = f"https://{host.address}:{GATEWAY_PORT}", ssl.create_default_context(cadata=ca_pem)
            drilled = drill.rehearse(host, lambda: _retrieve(base, ca_pem, state), lambda: _wait_ready(tls, base))
            if drilled.restored != drilled.kept:
                raise HostError(
                    f"the restore to {drilled.target} brought back (events, last sequence) {drilled.restored}, "
                    f"not {drilled.kept} as committed before it"
                )
            say(
                f"    restored to {drilled.target} in {drilled.seconds:.0f} s: {drilled.kept[0]} events kept (to "
                f"sequence {drilled.kept[1]}), the {drilled.after[0] - drilled.kept[0]} after it gone; "
                f"{drilled.verified}"
            )
            answer = dataclasses.replace(answer, drill=drilled)
            say("7/7 the host's evidence (playbooks/verify.yml), and the emulated account audited with it...")
            evidence = state / "evidence"
            _playbook(project, inventory, "verify.yml", state / "verify.log", {"verify_evidence_dir": str(evidence)})
            facts, scan = live_facts(session, [cfg.region], url, context, evidence, max_attempts=1)
    finally:
        nspawn.down(HOST_NAME)
    return facts, scan, answer


def _first_instance(outputs: dict[str, Any]) -> str:
    ids = outputs.get("gpu_instance_ids") or []
    if not ids or not str(ids[0]).startswith("i-"):
        raise HostError("the stack's outputs name no GPU instance (gpu_instance_ids) for the local host to play.")
    return str(ids[0])


def _stage(  # noqa: PLR0913 - one step's inputs, each used once
    session: Any,
    url: str,
    outputs: dict[str, Any],
    built: Path,
    host: Any,
    instance: str,
    project: Path,
    state: Path,
    say: Say,
) -> tuple[Path, str]:
    """The bundle and the CA in the stack's artifact bucket; the IdP's keys; the inventory. (inventory, CA PEM)"""
    from infra.hosts import ca
    from infra.hosts.bundle.presign import s3_client
    from infra.hosts.bundle.upload import upload
    from infra.hosts.inventory import stack_vars
    from phistack.testhost import idp

    s3 = s3_client(session, outputs["region"], url)
    bucket, key = outputs["buckets"]["artifacts"], outputs["kms_key_arns"]["data"]
    done = upload(s3, built, bucket, key)
    authority = ca.new_ca(outputs["client"])
    ca.store(s3, bucket, key, outputs["client"], authority)
    say(f"    the bundle is in s3://{bucket}/{done.prefix} (SSE-KMS, the stack's data key), the client's CA beside it")
    jwks = json.loads(idp.keys(state).read_text())
    phistack_cli = str(Path(sys.executable).parent / "phistack")
    testhost_vars = project / "playbooks" / "vars" / "testhost.yml"
    if not testhost_vars.is_file():
        raise HostError(f"{testhost_vars}: not found; phistack demo --host runs from a phistack checkout.")
    overrides = yaml.safe_load(testhost_vars.read_text())
    host_vars = {
        **stack_vars(outputs),
        "artifacts_prefix": done.prefix,
        "artifacts_manifest_sha256": done.manifest_sha256,
        "artifacts_s3_endpoint_url": url,
        "pki_s3_endpoint_url": url,
        "artifacts_controller_phistack": phistack_cli,
        "pki_controller_phistack": phistack_cli,
        **overrides,
        "rag_gateway_oidc_issuer": idp.ISSUER,
        "rag_gateway_oidc_audience": idp.AUDIENCE,
        "rag_gateway_oidc_jwks": jwks,  # the stand-in IdP's public keys, published as a file (no egress)
        "rag_gateway_sync_endpoint_url": url,  # the sync service reaches the emulated S3 and SQS there
        "vector_store_archive_endpoint_url": url,  # and the database's archive, its bucket
        # The host anchors the audit chain in the emulated archive; the restore drill below acknowledges its
        # restore there (phistack-db-archive), so the anchors it replaces are reported as replaced, not contradicted.
        "log_shipping_s3_endpoint_url": url,
        "llm_server_nvidia_enabled": False,  # no GPU here; the Molecule scenario proves the driver's DKMS build
        "ansible_host": host.address,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": host.ssh_key,
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    inventory = state / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"phistack": {"hosts": {instance: host_vars}}}, sort_keys=False))
    return inventory, authority.cert_pem


def _playbook(project: Path, inventory: Path, name: str, log: Path, extra: dict[str, str] | None = None) -> str:
    """Run one of the project's playbooks on the local host; its output goes to log. The host's PLAY RECAP."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), name]
    if extra:
        argv += ["-e", json.dumps(extra)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(AWS_ENV, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    with log.open("wb") as out:
        done = subprocess.run(
            argv, cwd=project / "playbooks", stdout=out, stderr=subprocess.STDOUT, env=env, check=False
        )
    text = log.read_text(errors="replace")
    recap = re.findall(r"^(i-\S+\s*:\s*ok=.*)$", text, re.MULTILINE)
    if done.returncode != 0:
        tasks = re.findall(r"^TASK \[(.*)\]", text, re.MULTILINE)
        where = f"task {tasks[-1]!r}" if tasks else "its start"
        raise HostError(f"playbooks/{name} failed on the local host at {where} (exit {done.returncode}); see {log}")
    return " ".join(recap[-1].split()) if recap else f"playbooks/{name} finished"


def _post(context: ssl.SSLContext, url: str, token: str, body: bytes, kind: str) -> Any:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", kind)
    with urllib.request.urlopen(request, context=context, timeout=180) as response:
        return json.loads(response.read() or b"null")


def _ask(base: str, ca_pem: str, state: Path) -> Answer:
    """An administrator files the clinic's policy; a clinician asks about it (over TLS, the client's CA only)."""
    from phistack.testhost import idp

    context = ssl.create_default_context(cadata=ca_pem)
    admin = idp.token(state, idp.ISSUER, idp.AUDIENCE, "kb-admin@clinic.test", ["kb-admins"])
    clinician = idp.token(state, idp.ISSUER, idp.AUDIENCE, "clinician@clinic.test", ["clinicians"])
    _wait_ready(context, base)
    try:
        collection = {
            "id": COLLECTION,
            "title": "Clinic policies",
            "read_groups": ["clinicians"],
            "write_groups": ["kb-admins", "kb-sync"],
        }  # fmt: skip  (kb-sync: the bucket's sync)
        _post(context, f"{base}/v1/collections", admin, json.dumps(collection).encode(), "application/json")
        document = resources.files("phistack").joinpath("data/demo-policy.txt").read_bytes()
        title = urllib.parse.quote(DOCUMENT_TITLE)
        _post(context, f"{base}/v1/collections/{COLLECTION}/documents?title={title}", admin, document, "text/plain")
        question = {"max_tokens": 96, "messages": [{"role": "user", "content": QUESTION}]}
        asked = json.dumps(question).encode()
        reply = _post(context, f"{base}/v1/chat/completions", clinician, asked, "application/json")
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode(errors="replace")  # the gateway's own message; it never echoes a document
        raise HostError(f"the gateway on the local host answered {exc.code} to {exc.url}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise HostError(f"the gateway on the local host could not be reached at {base} ({exc})") from None
    return Answer(QUESTION, reply["choices"][0]["message"]["content"], list(reply.get("citations") or []))


def _retrieve(base: str, ca_pem: str, state: Path, times: int = 3) -> None:
    """A clinician's searches of the knowledge base: each one an audited access."""
    from phistack.testhost import idp

    context = ssl.create_default_context(cadata=ca_pem)
    clinician = idp.token(state, idp.ISSUER, idp.AUDIENCE, "clinician@clinic.test", ["clinicians"])
    query = json.dumps({"query": "Which vaccine for an egg allergy?", "k": 2}).encode()
    try:
        for _ in range(times):
            _post(context, f"{base}/v1/retrieve", clinician, query, "application/json")
    except (urllib.error.URLError, OSError) as exc:
        raise HostError(f"the gateway on the local host could not be reached at {base} ({exc})") from None


SYNCED_KEY = f"{COLLECTION}/visiting-hours.txt"
SYNCED_TEXT = b"Visiting hours on the inpatient ward are 10 am to 8 pm; two visitors per patient at a time."


def _sync_check(
    base: str, ca_pem: str, state: Path, session: Any, url: str, outputs: dict[str, Any], timeout: float = 180.0
) -> dict[str, Any]:
    """A clinic's staff member puts a document into the document bucket; a clinician's retrieval finds it once the
    host's sync service has taken the bucket's event. How long that took, and how the citation names it."""
    from infra.hosts.bundle.presign import s3_client
    from phistack.testhost import idp

    context = ssl.create_default_context(cadata=ca_pem)
    clinician = idp.token(state, idp.ISSUER, idp.AUDIENCE, "clinician@clinic.test", ["clinicians"])
    s3 = s3_client(session, outputs["region"], url)
    started = time.monotonic()
    s3.put_object(Bucket=outputs["buckets"]["docs"], Key=SYNCED_KEY, Body=SYNCED_TEXT, ContentType="text/plain")
    query = json.dumps({"query": "What are the ward's visiting hours?", "k": 3}).encode()
    while time.monotonic() - started < timeout:
        try:
            found = _post(context, f"{base}/v1/retrieve", clinician, query, "application/json")["citations"]
        except (urllib.error.URLError, OSError) as exc:
            raise HostError(f"the gateway on the local host could not be reached at {base} ({exc})") from None
        ours = [c for c in found if str(c.get("source", "")).endswith(SYNCED_KEY)]
        if ours:
            return {"key": SYNCED_KEY, "source": ours[0]["source"], "seconds": time.monotonic() - started}
        time.sleep(0.5)
    raise HostError(
        f"s3://{outputs['buckets']['docs']}/{SYNCED_KEY} was not retrievable {timeout:.0f} s after it was put: "
        "see `journalctl -u phistack-sync` on the host"
    )


# The README's command for a deploy engineer after a restore, as root on the host (README: "Keeping the knowledge
# base current"); the demo runs it as written.
RECONCILE_COMMAND = (
    "runuser -u phistack-gateway -- sh -c 'set -a; . /etc/phistack/gateway/sync.env; "
    "/opt/phistack/gateway/venv/bin/phistack-gateway sync reconcile'"
)


def _reconcile(host: nspawn.Host) -> str:
    """Run RECONCILE_COMMAND on the host over SSH; its summary line. HostError when it fails."""
    done = host.run(RECONCILE_COMMAND, timeout=300)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise HostError(f"sync reconcile on the local host exited {done.returncode}: {detail}")
    return lines[-1]


def _wait_ready(context: ssl.SSLContext, base: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", context=context, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise HostError(f"the gateway on the local host was not ready at {base}/readyz after {timeout:.0f} s")
        time.sleep(2)
