"""The one trust boundary, enforced: no module of harness/ or scripts/ writes, removes, moves or
chmods a path itself; harness/host/trust.py does (issue 28). A later feature that writes a file
its own way fails here, before it can reopen a way to root.

Allowed outside trust.py: what a writer does to the temporary file trust.atomic_write hands it
(the call inside the function given to atomic_write), and libguestfs calls that act inside the
appliance, marked on their line with `# trust: in the appliance`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
TRUST = ROOT / "harness" / "host" / "trust.py"
IN_APPLIANCE = "# trust: in the appliance"
# Methods that write, remove, move or chmod a path, whatever object they are called on.
WRITING_METHODS = {"write_text", "write_bytes", "savefig", "unlink", "rmtree", "chmod", "chown",
                   "lchown", "mkdir", "makedirs", "rmdir", "touch", "symlink_to", "hardlink_to",
                   "to_parquet", "to_csv", "to_json", "dump", "mkstemp", "mkfifo"}
# Module functions that do: os.remove, shutil.move, ...
WRITING_FUNCTIONS = {"os": {"remove", "unlink", "rename", "renames", "replace", "symlink",
                            "link", "mkdir", "makedirs", "chmod", "chown", "lchown", "rmdir",
                            "mkfifo", "truncate"},
                     "shutil": {"move", "copy", "copy2", "copyfile", "copytree", "rmtree",
                                "chown", "copymode", "copystat"},
                     "OmegaConf": {"save"}}
# lgbench's own modules whose writing functions go through trust (and are checked here).
THROUGH_TRUST = {"trust", "store"}
OPEN_FOR_WRITING = set("wax+")
WRITING_FLAGS = {"O_CREAT", "O_WRONLY", "O_TRUNC", "O_APPEND"}  # of os.open


def _writer_bodies(tree: ast.AST) -> set[int]:
    """The nodes inside the functions given to trust.atomic_write: they write its temp file."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "atomic_write" and len(node.args) >= 2):
            inside |= {id(n) for n in ast.walk(node.args[1])}
    return inside


def _opens_for_writing(call: ast.Call) -> bool:
    """open(path, "w"...) or open(path, mode=...) with a mode that is not a plain read."""
    mode = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(OPEN_FOR_WRITING & set(mode.value))
    return True  # a mode computed at run time: cannot tell, so not allowed


def _os_open_writes(call: ast.Call) -> bool:
    """os.open(path, flags) whose flags create, write or truncate (O_RDWR on a device
    such as /dev/kvm writes no file); flags held in a variable cannot be told apart."""
    if len(call.args) < 2:
        return True
    flags = call.args[1]
    named = {n.attr for n in ast.walk(flags) if isinstance(n, ast.Attribute)}
    plain = all(isinstance(n, ast.Attribute | ast.Name | ast.BinOp | ast.BitOr | ast.Load)
                for n in ast.walk(flags))
    return not plain or isinstance(flags, ast.Name) or bool(named & WRITING_FLAGS)


def violations(path: Path, root: Path = ROOT) -> list[str]:
    """Each call in the file that writes, removes, moves or chmods a path by itself, as
    `file:line: what` with the file named from `root`."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, filename=str(path))
    allowed = _writer_bodies(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in allowed:
            continue
        if IN_APPLIANCE in lines[node.lineno - 1]:
            continue
        func = node.func
        what = None
        if isinstance(func, ast.Name) and func.id == "open" and _opens_for_writing(node):
            what = "open(..., write mode)"
        elif isinstance(func, ast.Attribute):
            module = func.value.id if isinstance(func.value, ast.Name) else None
            if module == "os" and func.attr == "open" and _os_open_writes(node):
                what = "os.open(..., writing flags)"
            elif module in WRITING_FUNCTIONS:
                if func.attr in WRITING_FUNCTIONS[module]:
                    what = f"{module}.{func.attr}"
            elif func.attr in WRITING_METHODS and module not in THROUGH_TRUST:
                what = f".{func.attr}()"
        if what:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {what}")
    return found


def checked_files() -> list[Path]:
    files = sorted([*(ROOT / "harness").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")])
    return [f for f in files if f != TRUST]


def test_nothing_outside_the_trust_layer_writes_removes_or_chmods_a_path() -> None:
    found = [v for f in checked_files() for v in violations(f)]
    assert not found, ("these go around harness/host/trust.py (use its secure_folder, "
                       "atomic_write, write_text, create_file, remove, remove_tree, set_mode, "
                       "move):\n" + "\n".join(found))


PLANTED = {
    "plain": "from pathlib import Path\nPath('x').write_text('y')\n",
    "open": "with open('x', 'w') as f:\n    f.write('y')\n",
    "computed mode": "mode = 'a'\nopen('x', mode)\n",
    "savefig": "def save(figure, path):\n    figure.savefig(path)\n",
    "os": "import os\nos.replace('a', 'b')\n",
    "os.open": "import os\nos.open('x', os.O_WRONLY | os.O_CREAT)\n",
    "shutil": "import shutil\nshutil.rmtree('a')\n",
    "chmod": "from pathlib import Path\nPath('x').chmod(0o777)\n",
    "outside the writer": ("from harness.host import trust\n"
                           "trust.atomic_write(p, lambda tmp: None)\np.unlink()\n"),
}


@pytest.mark.parametrize("planted", PLANTED)
def test_the_guard_finds_a_planted_write(planted: str, tmp_path: Path) -> None:
    module = tmp_path / "planted.py"
    module.write_text(PLANTED[planted])
    assert len(violations(module, tmp_path)) == 1


def test_a_writer_given_to_atomic_write_and_reads_are_allowed(tmp_path: Path) -> None:
    module = tmp_path / "fine.py"
    module.write_text("from harness.host import trust\n"
                      "trust.atomic_write(p, lambda tmp: frame.to_parquet(tmp))\n"
                      "open('x').read()\nopen('x', 'rb').read()\n'a-b'.replace('-', '')\n"
                      "os.open('/dev/kvm', os.O_RDWR)\n"
                      "g.mkdir('/sysroot')  # trust: in the appliance\n")
    assert violations(module, tmp_path) == []

