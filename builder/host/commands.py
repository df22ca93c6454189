"""Host subcommands: ``engine``, ``engines``, ``image``, ``shell``, ``pin``, ``offline-base``, ``lock``, ``clean``.

``builder.cli`` calls :func:`register` when it builds its parser.  Nothing
heavy is imported here: each handler imports what it needs (the docker SDK
only through :class:`builder.host.docker_engine.DockerEngine`).
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from builder.backends.catalog import backend_for_flavour, flavours
from builder.cli_options import add_common_paths
from builder.errors import BuilderError, HostEnvironmentError, cli
from builder.profile import DEFAULT_PROFILE

FLAVOURS = flavours()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the host subcommands to the CLI's subparsers."""
    engine = subparsers.add_parser("engine", help="build one profile in its container (skipped when up to date)")
    engine.add_argument(
        "--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})"
    )
    add_common_paths(engine)
    _launch_options(engine)
    _verbose_option(engine, "one line per stage")
    engine.set_defaults(handler=_cmd_engine)

    engines = subparsers.add_parser(
        "engines", help="build several profiles: one container per GPU in parallel, CPU profiles in turn"
    )
    engines.add_argument(
        "--profiles",
        nargs="+",
        default=[],
        metavar="PROFILE",
        help="profiles to build (default: every profile this host can build; the others are SKIPPED). "
        "A named profile this host cannot build is SKIPPED too, and the exit code is then 3",
    )
    add_common_paths(engines)
    _launch_options(engines)
    _verbose_option(engines, "one line per stage and profile")
    engines.set_defaults(handler=_cmd_engines)

    image = subparsers.add_parser("image", help="build the builder image of a flavour (cpu, trt or trt10)")
    image.add_argument(
        "--flavour",
        choices=FLAVOURS,
        default="cpu",
        help="cpu (ONNX Runtime), trt (TensorRT 8.6) or trt10 (TensorRT 10.8); default cpu",
    )
    image.add_argument("--tag", default=None, help="image tag (default: engine-foundry:<flavour>)")
    image.add_argument("--base-image", default=None, help="base image instead of images.lock's (BASE_IMAGE)")
    image.add_argument(
        "--online", action="store_true", help="let pip download during the build instead of using a host wheelhouse"
    )
    image.add_argument(
        "--extra-ca",
        type=Path,
        default=None,
        metavar="PEM",
        help="CA bundle pip trusts during the build (TLS-intercepting proxies)",
    )
    image.add_argument(
        "--ultralytics",
        default=None,
        metavar="REQ",
        help="another ultralytics distribution (a fork), as a pip requirement",
    )
    image.add_argument(
        "--ultralytics-sha256", default=None, metavar="HEX", help="sha256 pin of that distribution's file"
    )
    image.add_argument("--mirror", default=None, metavar="URL", help="Debian mirror for the offline base fallback")
    image.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    image.set_defaults(handler=_cmd_image)

    shell = subparsers.add_parser(
        "shell", help="an interactive shell in the image, with the launcher's mounts and hardening"
    )
    shell.add_argument("--flavour", choices=FLAVOURS, default="cpu")
    add_common_paths(shell)
    shell.add_argument("--image", default=None, help="image reference (default: engine-foundry:<flavour>)")
    shell.set_defaults(handler=_cmd_shell)

    pin = subparsers.add_parser("pin", help="resolve the base images' digests and rewrite images.lock")
    pin.add_argument("--lock", type=Path, default=None, help="the lock file (default: images.lock of this checkout)")
    pin.set_defaults(handler=_cmd_pin)

    offline = subparsers.add_parser(
        "offline-base", help="make the local Debian base image with debootstrap (no registry needed)"
    )
    offline.add_argument(
        "--mirror",
        default=None,
        metavar="URL",
        help="Debian mirror (default: $ENGINE_FOUNDRY_DEBIAN_MIRROR, else apt's)",
    )
    offline.add_argument("--suite", default="bookworm", help="Debian suite (default: bookworm)")
    offline.add_argument("--force", action="store_true", help="remake it even when present")
    offline.set_defaults(handler=_cmd_offline_base)

    lock = subparsers.add_parser(
        "lock", help="resolve requirements/<flavour>.in into the hash-locked requirements/<flavour>.txt"
    )
    lock.add_argument("--flavour", choices=FLAVOURS, default="cpu")
    lock.add_argument(
        "--check", action="store_true", help="only check that the lock file is up to date (exit 1 if not)"
    )
    lock.add_argument(
        "--pip-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra pip argument, e.g. --pip-arg=--extra-index-url=URL",
    )
    lock.set_defaults(handler=_cmd_lock)

    clean = subparsers.add_parser(
        "clean",
        help="remove staged build inputs, leftover build containers and unused project images (never artifacts)",
    )
    clean.set_defaults(handler=_cmd_clean)


def _verbose_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"show the full build log live (default: {default}; the log goes to <artifacts>/<profile>/logs/)",
    )


def _launch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="rebuild even when an up-to-date build exists")
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="build even when the estimated memory or time exceeds the host (builder/pipeline/resources.py)",
    )
    parser.add_argument(
        "--gpus", default="all", help="GPUs for TensorRT profiles: all, an index, or a list like 0,1 (default: all)"
    )
    parser.add_argument(
        "--image",
        default=None,
        help='image reference (default by profile: engine-foundry:cpu, :trt, or :trt10 for tensorrt: "10")',
    )


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from builder.host.settings import host_settings

    return host_settings(args.profiles_dir, args.models, args.artifacts, args.cache_dir, image=args.image, **extra)


def _docker() -> Any:
    from builder.host.docker_engine import DockerEngine

    return DockerEngine()


def _cmd_engine(args: argparse.Namespace) -> int:
    from builder.host.launch import launch
    from builder.host.progress import ProgressSink, log_path

    profile = check_buildable_here(args.profile, args.profiles_dir)
    settings = _settings(args, gpus=args.gpus, force=args.force, allow_large=args.allow_large)
    sink = ProgressSink(
        log_path(settings.artifacts_dir, profile.name), verbose=args.verbose, out=lambda line: print(line, flush=True)
    )
    try:
        return launch(args.profile, settings, _docker(), sink)
    finally:
        sink.close()


def check_buildable_here(profile_ref: str, profiles_dir: Path) -> Any:
    """Refuse, before any Docker or image work, a profile this host cannot build (e.g. TensorRT without a GPU).

    Raises:
        ProfileError: the profile is missing or invalid.
        HostEnvironmentError: the host lacks what the profile's backend needs.
    """
    from builder.machine.buildable import BuildHost, why_not_buildable
    from builder.profile import load_profile

    profile = load_profile(profile_ref, profiles_dir)
    reason = why_not_buildable(profile.backend, BuildHost.probe())
    if reason:
        from builder.host.fleet_plan import HOST_TIP

        raise HostEnvironmentError(f"cannot build {profile.name} on this host: {reason}", hint=HOST_TIP)
    return profile


def _cmd_engines(args: argparse.Namespace) -> int:
    from builder.host.fleet import launch_many
    from builder.host.fleet_plan import plan_fleet
    from builder.host.progress import ProgressSink, log_path
    from builder.machine.buildable import BuildHost
    from builder.profile import list_profiles

    refs = args.profiles or [item.name for item in list_profiles(args.profiles_dir) if not item.abstract]
    if not refs:
        raise HostEnvironmentError(
            f"no profiles in {args.profiles_dir}", hint="pass --profiles-dir or --profiles NAME..."
        )
    plan = plan_fleet(refs, args.profiles_dir, BuildHost.probe(), named=bool(args.profiles))  # before any Docker
    settings = _settings(args, gpus=args.gpus, force=args.force, allow_large=args.allow_large)

    def logs(name: str, out: Any) -> ProgressSink:
        return ProgressSink(log_path(settings.artifacts_dir, name), verbose=args.verbose, out=out)

    def say(line: str) -> None:
        print(line, flush=True)

    return launch_many(plan, settings, _docker(), say, logs=logs)


def _cmd_image(args: argparse.Namespace) -> int:
    from builder.host.image import ImageOptions, build_image

    options = ImageOptions(
        flavour=args.flavour, tag=args.tag, base_image=args.base_image, wheelhouse=not args.online,
        extra_ca=args.extra_ca, ultralytics=args.ultralytics, ultralytics_sha256=args.ultralytics_sha256,
        mirror=args.mirror, no_cache=args.no_cache,
    )  # fmt: skip
    build_image(options, _docker())
    return 0


def _cmd_shell(args: argparse.Namespace) -> int:
    from builder.host.image import ensure_image
    from builder.host.settings import prepare_host_dirs
    from builder.host.spec import container_spec, docker_run_argv

    engine = _docker()
    image = ensure_image(args.flavour, engine, ref=args.image)
    settings = replace(_settings(args), image=image.ref, image_id=image.id)
    prepare_host_dirs(settings, "shell")
    backend = backend_for_flavour(args.flavour).name
    argv = docker_run_argv(
        container_spec("shell", backend, settings, args.flavour), entrypoint="/bin/bash", interactive=True
    )
    if shutil.which("docker") is None:
        raise HostEnvironmentError(
            "the docker command-line client is not installed",
            hint="install it (`apt-get install docker.io`), or use `docker compose run builder`",
        )
    print(" ".join(argv), flush=True)
    os.execvp("docker", argv)
    return 0  # not reached


def _cmd_pin(args: argparse.Namespace) -> int:
    from builder.host.image import repo_root
    from builder.host.images_lock import pin_images

    pins = pin_images(args.lock or repo_root() / "images.lock", _docker())
    unpinned = [p.ref for p in pins.values() if not p.pinned]
    if unpinned:
        print(f"WARNING still unpinned (no registry answered and not present locally): {', '.join(unpinned)}")
    return 0


def _cmd_offline_base(args: argparse.Namespace) -> int:
    from builder.host.offline_base import make_offline_base

    make_offline_base(_docker(), mirror=args.mirror, suite=args.suite, force=args.force)
    return 0


def _cmd_lock(args: argparse.Namespace) -> int:
    from builder.host.image import repo_root
    from builder.host.lockfile import write_lock

    requirements = repo_root() / "requirements"
    fresh = write_lock(requirements, args.flavour, args.pip_arg, check=args.check)
    name = f"requirements/{args.flavour}.txt"
    if args.check and not fresh:
        raise BuilderError(f"{name} is stale", hint=f"run: {cli(f'lock --flavour {args.flavour}')}")
    print(f"{name} is up to date" if args.check else f"wrote {name}")
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    from builder.host.image import repo_root

    return clean(repo_root(), _docker)


def clean(root: Path, docker: Any) -> int:
    """``make clean``: staged build inputs (wheelhouse, CA), leftover build containers, the test image the tests
    leave, the project's unused images; "freed" counts all of it (the files by size, the images by what the
    engine's layers shrank)."""
    from builder.host.image_cleanup import TEST_IMAGES, remove_unused_images, size_text, tree_size
    from builder.host.spec import MANAGED_LABEL

    files_freed = 0
    for folder in (root / "requirements" / "wheelhouse", root / "requirements" / "ca"):
        if folder.exists():
            size = tree_size(folder)
            shutil.rmtree(folder)
            files_freed += size
            print(f"removed {folder} ({size_text(size)})")
    try:
        engine = docker()
    except HostEnvironmentError as err:
        print(f"note: no Docker engine ({err.message}); no containers or images to remove")
        print(f"clean: freed {size_text(files_freed)} (artifacts are never removed)")
        return 0
    for container_id in engine.containers_labelled({MANAGED_LABEL: "true"}):
        engine.remove_container(container_id)
        print(f"removed container {container_id[:12]}")
    before = engine.layers_size()
    tests = 0
    for ref in TEST_IMAGES:
        if engine.image_info(ref) is None:
            continue
        try:
            engine.remove_image(ref)
        except HostEnvironmentError as err:
            print(f"kept test image {ref}: {err.message}")
            continue
        tests += 1
        print(f"removed test image {ref} (the Docker tests build it; `make test` makes it again)")
    result = remove_unused_images(engine, keep_cache=False)
    images_freed = max(0, before - engine.layers_size())
    print(f"clean: removed {len(result.removed)} unused image(s) the project made and {tests} test image(s), "
          f"freed {size_text(files_freed + images_freed)} (images {size_text(images_freed)}, "
          f"files {size_text(files_freed)})"
          f"{f'; kept {len(result.kept)} in use' if result.kept else ''} (artifacts are never removed)")  # fmt: skip
    return 0
