"""``make test-gpu`` = ``python -m builder test-gpu``: the ``gpu`` tests inside the TensorRT image on this host.

1. The trt image (``--image``, default ``engine-foundry:trt``; ``make image FLAVOUR=trt`` builds it) plus the
   hash-locked ``requirements/test-gpu.txt`` becomes ``<image>-test`` (``tests/gpu/Dockerfile``; Docker caches it).
2. The repository is mounted read-only at ``/repo`` (the checkout's tests and builder run, nothing is copied),
   ``artifacts/test-gpu/`` is the only writable mount (the JUnit report), ``/tmp`` is a tmpfs.
3. In the container: the image's smoke test (TensorRT's numpy interop, a tiny network on the GPU), then
   ``pytest -m gpu tests/gpu --junitxml=/artifacts/junit.xml``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from builder.errors import HostEnvironmentError

DEFAULT_IMAGE = "engine-foundry:trt"
REPORT_DIR = Path("artifacts") / "test-gpu"
IN_CONTAINER = (
    "python -m builder.backends.tensorrt.smoke && python -m pytest -m gpu tests/gpu -p no:cacheprovider "
    "--basetemp=/tmp/pytest --junitxml=/artifacts/junit.xml"
)


def image_build_argv(repo: Path, image: str) -> list[str]:
    """``docker build`` of the test image: the trt image + requirements/test-gpu.txt."""
    return ["docker", "build", "--quiet", "--build-arg", f"IMAGE={image}", "-f", str(repo / "tests" / "gpu" / "Dockerfile"),
            "-t", f"{image}-test", str(repo)]  # fmt: skip


def suite_run_argv(
    repo: Path, image: str, gpus: str, pytest_args: Sequence[str] = (), checkpoint: str = ""
) -> list[str]:
    """``docker run`` of the gpu suite: repository read-only, report folder writable, tmpfs /tmp."""
    command = " ".join([IN_CONTAINER, *(_quote(a) for a in pytest_args)])
    return [
        "docker", "run", "--rm", f"--gpus={gpus}", "--read-only", "--tmpfs=/tmp:exec,mode=1777",
        "--env=CUDA_DEVICE_ORDER=PCI_BUS_ID", "--env=HOME=/tmp/home", "--env=PYTHONPATH=/repo",
        "--env=PYTHONDONTWRITEBYTECODE=1", f"--env=ENGINE_FOUNDRY_GPU_CHECKPOINT={checkpoint}",
        f"--mount=type=bind,source={repo},target=/repo,readonly",
        f"--mount=type=bind,source={repo / REPORT_DIR},target=/artifacts",
        "--workdir=/repo", "--entrypoint=sh", f"{image}-test", "-c", command,
    ]  # fmt: skip


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def register(subparsers: argparse._SubParsersAction) -> None:
    cmd = subparsers.add_parser("test-gpu", help="run the gpu tests inside the trt image (JUnit: artifacts/test-gpu/)")
    cmd.add_argument("--image", default=DEFAULT_IMAGE, help=f"the TensorRT image (default {DEFAULT_IMAGE})")
    cmd.add_argument("--gpus", default="all", help="docker --gpus value (default all)")
    cmd.add_argument("--pytest-args", default="", help="extra pytest arguments, one string")
    cmd.set_defaults(handler=run_gpu_tests)


def run_gpu_tests(args: argparse.Namespace) -> int:
    """Build the test image and run the suite; return pytest's exit code.

    Raises:
        HostEnvironmentError: no docker client, or the trt image is missing.
    """
    import shlex

    repo = Path(__file__).resolve().parents[2]
    if shutil.which("docker") is None:
        raise HostEnvironmentError(
            "the docker command-line client is not installed", hint="install it (`apt-get install docker.io`)"
        )
    if subprocess.run(["docker", "image", "inspect", args.image], capture_output=True).returncode != 0:
        raise HostEnvironmentError(
            f"the TensorRT image {args.image} is not here", hint="build it: `make image FLAVOUR=trt`"
        )
    if subprocess.run(image_build_argv(repo, args.image)).returncode != 0:
        raise HostEnvironmentError(
            f"could not build {args.image}-test from tests/gpu/Dockerfile", hint="read docker's message above"
        )
    report = repo / REPORT_DIR
    report.mkdir(parents=True, exist_ok=True)
    report.chmod(0o777)  # the image's unprivileged user writes the report
    argv = suite_run_argv(
        repo, args.image, args.gpus, shlex.split(args.pytest_args), os.environ.get("ENGINE_FOUNDRY_GPU_CHECKPOINT", "")
    )
    print(" ".join(shlex.quote(a) for a in argv), flush=True)
    return subprocess.run(argv).returncode
