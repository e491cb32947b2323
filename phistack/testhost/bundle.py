"""The install bundle a local test host installs from (the Molecule scenario and `phistack demo --host`):
Debian 13 packages, the wheels and the tiny Llama-architecture model, built once per recipe and kept beside the
Debian image in /var/cache/phistack-testhost/test-bundles/<recipe>, so every checkout on the machine (a developer's,
CI's fresh clone) reuses it. The recipe is the bundle's build code and the gateway's code (its wheel is in the
bundle): change either and the next run builds a new bundle; bundles no run has asked for in a day are removed.

    python -m phistack.testhost.bundle REPO     # builds it unless it is there; prints its folder
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from infra.errors import BundleError
from infra.locks import exclusive

RECIPE_FILES = (
    "infra/hosts/bundle/build.py",
    "infra/hosts/bundle/debs.py",
    "infra/hosts/bundle/image.py",
    "infra/hosts/bundle/wheels.py",
    "pyproject.toml",
)
IMAGE_CACHE = Path("/var/cache/phistack-testhost")


def _git(repo: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise BundleError(f"{repo}: `git {' '.join(args)}` failed; the test bundle is built from a git checkout.")
    return done.stdout


def recipe(repo: Path) -> str:
    """A short hash of what decides the bundle's content (committed and uncommitted gateway code alike)."""
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        digest.update((repo / name).read_bytes())
    digest.update(_git(repo, "ls-files", "-s", "stack"))
    digest.update(_git(repo, "diff", "HEAD", "--", "stack"))
    return digest.hexdigest()[:12]


def ensure(repo: Path, say: Callable[[str], None] = lambda _: None) -> Path:
    """The bundle for the checkout's recipe: reused when complete, otherwise built (minutes); older ones removed."""
    from infra.hosts.bundle.build import ROLE_PACKAGES, Python, build
    from infra.hosts.bundle.wheels import default_wheelhouse
    from stack.dev.stack import smollm2_gguf

    repo = repo.resolve()
    folder = IMAGE_CACHE / "test-bundles"
    bundle = folder / recipe(repo)
    # Two runs may ask at once (a developer's beside CI's clone, or host tests run in parallel): one builds, the
    # other waits for it and reuses it.
    with exclusive(folder / "building.lock"):
        for legacy in (repo / ".phistack").glob("test-bundle-*"):  # where bundles were kept before (800 MB each)
            shutil.rmtree(legacy, ignore_errors=True)
        if (bundle / "manifest.json").is_file():
            os.utime(bundle)  # in use now: another checkout's ensure() leaves it be (see _evict)
            say(f"    reusing the install bundle {bundle}")
            return bundle
        _evict(folder, keep=bundle)
        say(f"    building the install bundle {bundle} (Debian 13 packages and wheels; minutes)")
        python = Python(repo, "llama_cpp", smollm2_gguf(), default_wheelhouse())
        try:
            build(bundle, "testhost", "test", IMAGE_CACHE, tuple(ROLE_PACKAGES), python, ())
        except BaseException:
            shutil.rmtree(bundle, ignore_errors=True)  # never a half-built bundle under a complete one's name
            raise
    return bundle


UNUSED_FOR = 24 * 3600  # seconds: a bundle another checkout has not asked for in a day is removed


def _evict(folder: Path, keep: Path) -> None:
    """Remove other recipes' bundles (about 800 MB each) that no checkout has used for a day, and half-built ones.
    A bundle a checkout on this machine still uses (CI's clone beside a developer's tree, each on its own recipe)
    was asked for within its run, so it is never removed from under that run."""
    now = time.time()
    for old in folder.iterdir():
        if old == keep or not old.is_dir():
            continue
        half_built = not (old / "manifest.json").is_file()  # interrupted: no build runs while we hold the lock
        if half_built or now - old.stat().st_mtime > UNUSED_FOR:
            shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)  # noqa: T201
        return 2
    try:
        print(ensure(Path(argv[0]), lambda line: print(line, file=sys.stderr)))  # noqa: T201
    except BundleError as exc:
        print(f"testhost bundle: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
