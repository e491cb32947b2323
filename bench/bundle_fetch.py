"""Benchmark: fetching the install bundle onto a host, the artifacts role's one-task module (phistack_fetch) against
the baseline it replaced, a get_url task per file, in one run, on a local Debian 13 host (systemd-nspawn) fetching
from an emulated S3 bucket on its veth (as Molecule's converge does).

Each way fetches the whole bundle into an empty folder of its own on the same host, presigned URLs from the same
bucket; then each runs again with everything present (the cost of a converge that has nothing to fetch). Reported:
seconds for each, and the ratio new/baseline. Needs root, systemd-nspawn and the Debian image
(scripts/system-deps.sh); the test bundle is built first if it is not cached (minutes).

    sudo .venv/bin/python bench/bundle_fetch.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
HOST = "fetchbench"

# The baseline: the role's fetch before phistack_fetch (one get_url per file, after one pass finding those present).
BASELINE = """
- name: Find the files already on the host with the manifest's SHA-256, in one pass
  ansible.builtin.command:
    argv:
      - python3
      - -c
      - |
        import hashlib, json, os, sys
        root, want = sys.argv[1], json.loads(sys.stdin.read())
        def ok(path, digest):
            full = os.path.join(root, path)
            if not os.path.isfile(full) or os.path.islink(full):
                return False
            with open(full, "rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == digest
        print(json.dumps(sorted(p for p, d in want.items() if ok(p, d))))
      - "{{ artifacts_dir }}"
    stdin: "{{ dict(listing.files | map(attribute='path') | zip(listing.files | map(attribute='sha256'))) | to_json }}"
  register: present
  changed_when: false
- name: Fetch every other file, one get_url each
  ansible.builtin.get_url:
    url: "{{ item.url }}"
    dest: "{{ artifacts_dir }}/{{ item.path }}"
    checksum: "sha256:{{ item.sha256 }}"
    mode: "0640"
  loop: "{{ listing.files | rejectattr('path', 'in', present.stdout | from_json) | list }}"
  loop_control: {label: "{{ item.path }}"}
"""
MODULE = """
- name: Fetch every file the host lacks, in one task
  phistack_fetch: {dest: "{{ artifacts_dir }}", files: "{{ listing.files }}", mode: "0640"}
"""
PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Presign
      ansible.builtin.command:
        argv: ["{{{{ phistack }}}}", bundle, urls, --bucket, "{{{{ artifacts_bucket }}}}", --region,
               "{{{{ artifacts_region }}}}", --prefix, "{{{{ artifacts_prefix }}}}", --manifest-sha256,
               "{{{{ artifacts_manifest_sha256 }}}}", --endpoint-url, "{{{{ artifacts_s3_endpoint_url }}}}"]
      delegate_to: localhost
      changed_when: false
      register: urls
    - ansible.builtin.set_fact: {{listing: "{{{{ urls.stdout | from_json }}}}"}}
    - name: Folders
      ansible.builtin.file: {{path: "{{{{ artifacts_dir }}}}/{{{{ item }}}}", state: directory, mode: "0750"}}
      loop: "{{{{ [''] + (listing.files | map(attribute='path') | map('dirname') | unique | list) }}}}"
{tasks}
"""


def _run(play: Path, inventory: Path, folder: str) -> float:
    env = {
        **os.environ,
        "ANSIBLE_LIBRARY": str(ROOT / "playbooks/roles/artifacts/library"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", json.dumps({"artifacts_dir": folder}), str(play)]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{play.name} failed:\n{done.stdout[-3000:]}")
    return seconds


def main() -> None:
    from phistack.testhost import emulated_s3, nspawn

    bundle = subprocess.run([sys.executable, "-m", "phistack.testhost.bundle", str(ROOT)], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]  # fmt: skip
    files = sum(1 for p in Path(bundle).rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        host = nspawn.up(HOST)
        try:
            coordinates = emulated_s3.up(host.gateway, Path(bundle), state)
            inventory = state / "inventory.yml"
            reach = {
                "ansible_host": host.address,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": host.ssh_key,
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            }
            variables = {**coordinates, "phistack": str(BIN / "phistack"), **reach}
            inventory.write_text(yaml.safe_dump({"all": {"hosts": {HOST: variables}}}))
            plays = {}
            for name, tasks in (("baseline", BASELINE), ("module", MODULE)):
                plays[name] = state / f"{name}.yml"
                indented = "\n".join("    " + line if line else line for line in tasks.strip("\n").split("\n"))
                plays[name].write_text(PLAY.format(tasks=indented))
            cold = {name: _run(play, inventory, f"/opt/bench/{name}") for name, play in plays.items()}
            warm = {name: _run(play, inventory, f"/opt/bench/{name}") for name, play in plays.items()}
        finally:
            emulated_s3.down(state)
            nspawn.down(HOST)
    print(f"bundle: {files} files from {bundle}")  # noqa: T201
    for label, figures in (("empty folder", cold), ("all present", warm)):
        ratio = figures["module"] / figures["baseline"]
        print(f"{label:>13}: baseline (get_url per file) {figures['baseline']:.1f} s, "  # noqa: T201
              f"phistack_fetch {figures['module']:.1f} s, ratio {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
