"""`lgbench-images`: build, list and remove the guest images inspection runs on."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from harness.cli.usage import version_text
from harness.host import trust
from harness.workloads.guests import domains
from harness.workloads.guests.disk import MiB
from harness.workloads.guests.recipes import (
    RECIPES,
    build,
    default_images_dir,
    image_path,
    list_images,
    recipe_hash,
    remove,
)


def _human(size: int) -> str:
    return f"{size / MiB:.0f} MiB" if size < 2**30 else f"{size / 2**30:.1f} GiB"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lgbench-images", description="Build and manage guest disk images for inspection.")
    parser.add_argument("--version", action="version", version=version_text(parser.prog))
    commands = parser.add_subparsers(dest="command", required=True)
    for command, text in (("build", "build a recipe's image (cached if already built)"),
                          ("list", "list the built images"),
                          ("remove", "remove a recipe's images and kept build inputs"),
                          ("recipes", "list the recipes"),
                          ("define", "define a libvirt domain (not started) over a recipe's "
                                     "image, for workload.domain"),
                          ("undefine", "remove a domain lgbench-images defined")):
        sub = commands.add_parser(command, help=text)
        if command in ("build", "remove", "define", "undefine"):
            sub.add_argument("name")
        sub.add_argument("--images-dir", type=Path, default=default_images_dir(),
                         help="default: $LGBENCH_CACHE/images or /var/tmp/lgbench-UID/images")
        if command in ("build", "define"):
            sub.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                             help="auto: KVM only where the harness saw it run (default)")
        if command == "define":
            sub.add_argument("--format", choices=domains.FORMATS, default="raw",
                             help="the domain's disk: the image (raw) or a qcow2 overlay on it")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C (SIGINT) ends a build even where it was started with SIGINT ignored (nohup).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = _parser().parse_args(argv)
    images_dir: Path = args.images_dir

    def error(message: str) -> int:
        print(f"lgbench-images: error: {message}", file=sys.stderr)
        return 2

    try:
        if os.path.lexists(images_dir) or args.command in ("build", "define"):
            trust.secure_folder(images_dir)  # its images are executed by qemu, listed, deleted
    except trust.UntrustedPath as exc:
        return error(f"--images-dir: {exc}")
    if args.command == "recipes":
        for name, recipe in RECIPES.items():
            built = "built" if image_path(name, images_dir).exists() else "not built"
            print(f"{name:10} {recipe_hash(name)}  {built:9}  {recipe.summary}")
        return 0
    if args.command == "list":
        images = list_images(images_dir)
        if not images:
            print(f"no images in {images_dir}")
        for image in images:
            stale = "" if image["current"] else "  (stale recipe)"
            print(f"{image['name']:10} {image['hash']}  {_human(image['size_bytes']):>8} "
                  f"({_human(image['allocated_bytes'])} used)  {image['built_at']}  "
                  f"{image['path']}{stale}")
        return 0
    if args.command in ("define", "undefine"):
        return _domain(args, error)
    if args.name not in RECIPES and args.command == "build":
        return error(f"unknown recipe {args.name!r}; recipes: {', '.join(RECIPES)}")
    if args.command == "remove":
        if remove(args.name, images_dir):
            print(f"removed {args.name} from {images_dir}")
            return 0
        return error(f"no image of {args.name!r} in {images_dir}")
    cached = image_path(args.name, images_dir).exists()
    try:
        path = build(args.name, images_dir, lambda line: print(line, file=sys.stderr,
                                                               flush=True), args.accel)
    except KeyboardInterrupt:
        error(f"build of {args.name} interrupted; nothing left behind")
        return 130
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return error(f"build of {args.name} failed: {first}")
    print(f"{path}{'  (cached)' if cached else ''}")
    return 0


def _domain(args: argparse.Namespace, error: Any) -> int:
    try:
        if args.command == "undefine":
            domains.undefine(args.name, args.images_dir)
            print(f"undefined {args.name}")
            return 0
        name = domains.define(args.name, args.images_dir, args.format, args.accel,
                              lambda line: print(line, file=sys.stderr, flush=True))
    except domains.DomainError as exc:
        return error(str(exc))
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
