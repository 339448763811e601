"""`lgbench --help` and `--version`, generated from the config itself: the experiments and the
choices of each group from the files under conf/ and experiments/ (their default from
conf/config.yaml), every key with its default and the comment beside it in harness.config.
Nothing of the Hydra app or the analysis is imported, so the answer comes at once; docs/
reference.md is the same text (`make docs`).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
from importlib import resources

import yaml

from harness import config
from harness.host import facts

GROUPS = ("backend", "appliance", "workload", "step")  # what users choose (conf/<group>/)
GROUP_FIELDS = ("backend", "appliance", "workload", "paths", "stages")  # not keys to set
# Set by lgbench or by a choice's file, not by hand (the folders of paths are the user's).
INTERNAL_KEYS = ("round", "_target_", "name", "type", "dir", "images_dir", "cache_dir")
SCHEMA_OF_KEYS = {  # the keys a group's choices add, by the schema they extend
    "backend": (config.BackendConf, config.DirectBackendConf, config.LibvirtBackendConf),
    "appliance": (config.CachedApplianceConf, config.FixedApplianceConf),
    "workload": (config.TransferWorkloadConf, config.InspectWorkloadConf,
                 config.MultiGuestWorkloadConf, config.OperationsWorkloadConf,
                 config.CallsWorkloadConf),
}
FIELD_LINE = re.compile(r"^\s+(\w+): [^=#]+(?:= [^#]+)?#\s*(.+)$")
COMMENT_LINE = re.compile(r"^\s+#\s?(.*)$")
WIDTH, KEY_WIDTH = 96, 30  # columns of the help, and of a key=default before its comment

USAGE = """\
lgbench: measure libguestfs appliances the way guestfs-performance(1) says.

Usage:
  lgbench [key=value ...]          one cell: warm-ups, then measured runs of the launch baseline
  lgbench -m key=a,b [key=x,y]     a sweep: a cell per combination, measured in rounds
  lgbench experiment=NAME          a preset and its sweep
  lgbench --version                lgbench's version and git commit

Examples:
  lgbench backend=fake             a dry run in seconds: no appliance, the whole pipeline
  lgbench                          the launch baseline on this host (backend=auto)
  lgbench -m backend=tcg,uml       TCG against UML, and their comparison
  lgbench experiment=assess        what to change here and what the host sustains (~40 min)
  lgbench-report RUN_DIR...        the report again from stored trials; --compare, a CI gate"""

TRAILER = """\
Exit status: 0 every cell has an ok trial, 2 bad input, 3 some cell has none (unless
  allow_failures=true), 4 a cell ended without all its results (a sweep's job failed, the
  results could not be written), 130 interrupted, 141 the output's reader went away.

Other tools:
  lgbench-report RUN_DIR...        summaries, comparisons, report.md/html, a CI gate
  lgbench-images build|list|...    guest images for inspection
  lgbench-doctor [--json]          the performance guide's troubleshooting checks on this host

Hydra's own flags (--cfg job, --info, -sc ...): lgbench --hydra-help"""


def help_text() -> str:
    return "\n\n".join([USAGE, experiments_text(), groups_text(), keys_text(), TRAILER])


def version_text(prog: str) -> str:
    """`lgbench 0.1.0 (commit 0123abcd4567)`: the commit where it runs from a checkout."""
    found = facts.lgbench_provenance()
    commit = f" (commit {found['commit'][:12]})" if found["commit"] else ""
    return f"{prog} {found['version'] or 'unknown version'}{commit}"


def experiments() -> list[str]:
    return sorted(f.name.removesuffix(".yaml") for f in resources.files("harness.experiments")
                  .iterdir() if f.name.endswith(".yaml"))


def choices(group: str) -> list[str]:
    return sorted(f.name.removesuffix(".yaml") for f in resources.files("harness.conf")
                  .joinpath(group).iterdir() if f.name.endswith(".yaml"))


def group_defaults() -> dict[str, str | None]:
    """Each group's default choice, from conf/config.yaml's defaults list."""
    text = resources.files("harness.conf").joinpath("config.yaml").read_text()
    found: dict[str, str | None] = {}
    for entry in yaml.safe_load(text)["defaults"]:
        if isinstance(entry, dict):
            found.update(entry)
    return found


def experiments_text() -> str:
    return "Experiments (experiment=NAME):\n" + textwrap.fill(
        ", ".join(experiments()), WIDTH, initial_indent="  ", subsequent_indent="  ")


def groups_text() -> str:
    defaults = group_defaults()
    lines = ["Config groups (group=CHOICE; the default in brackets):"]
    for group in GROUPS:
        default = defaults.get(group)
        named = [f"[{c}]" if c == default else c for c in choices(group)]
        lines.append(textwrap.fill(f"{group}={' | '.join(named)}", WIDTH, initial_indent="  ",
                                   subsequent_indent="    "))
    lines.append("  (step= picks steps of experiment=assess)")
    return "\n".join(lines)


def keys_text() -> str:
    lines = ["Keys (key=default, what it does):"]
    lines += [textwrap.fill(said, WIDTH, initial_indent=f"  {f'{key}={default}':<{KEY_WIDTH}} ",
                            subsequent_indent=" " * (KEY_WIDTH + 3))
              for key, default, said in keys()]
    lines.append("Keys of a group's choices (what a choice has: lgbench GROUP=CHOICE --cfg job):")
    for group in SCHEMA_OF_KEYS:
        lines.append(textwrap.fill(", ".join(f"{group}.{key}" for key in group_keys(group)),
                                   WIDTH, initial_indent="  ", subsequent_indent="    "))
    return "\n".join(lines)


def group_keys(group: str) -> list[str]:
    """The keys the choices of `group` have: their schemas' and their own files'."""
    found = {key for schema in SCHEMA_OF_KEYS[group] for key, _, _ in keys(schema)}
    for choice in choices(group):
        text = resources.files("harness.conf").joinpath(group, f"{choice}.yaml").read_text()
        found |= set(yaml.safe_load(text) or {}) - {"defaults", *INTERNAL_KEYS}
    return sorted(found)


def keys(schema: type = config.LgbenchConf) -> list[tuple[str, str, str]]:
    """(key, default, the comment beside it) for each key a user sets in `schema`, the keys
    of PathsConf as paths.KEY."""
    said = comments(schema)
    found = []
    for field in dataclasses.fields(schema):
        if schema is not config.PathsConf and field.name in INTERNAL_KEYS:
            continue
        if schema is config.LgbenchConf and field.name in GROUP_FIELDS:
            continue
        found.append((field.name, _default(field), said.get(field.name, "")))
    if schema is config.LgbenchConf:
        found += [(f"paths.{key}", default, text) for key, default, text in
                  keys(config.PathsConf)]
    return found


def comments(schema: type) -> dict[str, str]:
    """Each field's comment in the schema's source: beside it, or on the lines above it."""
    found, above = {}, []
    for line in inspect.getsource(schema).splitlines()[1:]:
        if (comment := COMMENT_LINE.match(line)) is not None:
            above.append(comment.group(1))
        elif (field := FIELD_LINE.match(line)) is not None:
            found[field.group(1)] = field.group(2)
            above = []
        elif (name := re.match(r"^\s+(\w+):", line)) is not None:
            found[name.group(1)] = " ".join(above)
            above = []
    return found


def _default(field: dataclasses.Field) -> str:
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        value = field.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return "''" if value == "" else str(value)




def reference_markdown() -> str:
    """docs/reference.md: the help as a page of the documentation site (`make docs`)."""
    return ("# Configuration reference\n\n"
            "Every experiment, choice and key, with its default: what `lgbench --help` prints, "
            "generated from the config (`make docs` writes this page).\n\n"
            f"```text\n{help_text()}\n```\n")


if __name__ == "__main__":
    print(reference_markdown(), end="")
