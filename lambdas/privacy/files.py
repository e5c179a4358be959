"""Contracts from the repository: YAML files named ``contracts/<type>/<version>.yaml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .contract import Contract, parse_contract
from .document import ContractError


def _load_yaml(text: str, source: str) -> Any:
    """Safe YAML, refusing what would silently change a contract: a key repeated at any level
    (PyYAML keeps the last value, so a repeated ``ssn:`` replaced the field and its personal-data
    rule), merge keys (``<<``: explicit keys override merged ones without a word), keys YAML reads
    as something other than a name (``on``, ``null``: the field would be renamed ``True``,
    ``None``), and aliases (a dozen lines of nested aliases expand to billions of nodes)."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        stack = [(node, "")]
        walked: set[int] = set()
        while stack:
            n, path = stack.pop()
            if id(n) in walked:  # the same node twice: an alias (*name) of an anchor (&name)
                raise ContractError(f"{source}: {path or 'top level'}: anchors and aliases are not supported, at line "
                                    f"{n.start_mark.line + 1}; write the value out")
            walked.add(id(n))
            if isinstance(n, yaml.MappingNode):
                seen: dict = {}
                for k, v in n.value:
                    if k.tag == "tag:yaml.org,2002:merge":
                        raise ContractError(f"{source}: {path or 'top level'}: merge keys (<<) are not supported, "
                                            f"at line {k.start_mark.line + 1}; write the keys out")
                    key = loader.construct_object(k, deep=True)
                    line = k.start_mark.line + 1
                    try:
                        first = seen.get(key)
                    except TypeError:
                        raise ContractError(f"{source}: {path or 'top level'}: the key at line {line} is not a scalar") from None
                    if type(key) is not str:  # YAML 1.1 reads on, yes, null, 1 as other types
                        raise ContractError(f"{source}: {path or 'top level'}: the key {k.value!r} at line {line} is "
                                            f"read as {type(key).__name__}, not a name; quote it")
                    name = f"{path}.{key}" if path else str(key)
                    if first is not None:
                        raise ContractError(f"{source}: {name}: the key {str(key)!r} appears twice, at lines {first} "
                                            f"and {line} (YAML would silently keep only the last)")
                    seen[key] = line
                    stack.append((v, name))
            elif isinstance(n, yaml.SequenceNode):
                stack.extend((v, f"{path}[{i}]") for i, v in enumerate(n.value))
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_contract_file(path: Path, root: Path | None = None) -> Contract:
    import yaml

    source = str(path.relative_to(root.parent) if root is not None else path)
    if path.exists() and not path.is_file():  # a FIFO would block the read for ever; a device, a folder
        raise ContractError(f"{source}: is not a regular file")
    try:
        raw = _load_yaml(path.read_text(encoding="utf-8"), source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ContractError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ContractError(f"{source}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ContractError(f"{source}: is not UTF-8 text") from None
    try:
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError):
        raise ContractError(f"{source}: holds a value JSON cannot carry (an unquoted date or time? quote it)") from None
    c = parse_contract(raw, source)
    expected = path.parent.name, path.stem
    if (c.type, c.version) != expected:
        raise ContractError(f"{source}: declares {c.type}/{c.version} but lives at {expected[0]}/{expected[1]}.yaml")
    return c


def load_contract_dir(root: Path) -> list[Contract]:
    root = Path(root)
    if not root.is_dir():
        raise ContractError(f"{root}: {'is not a folder' if root.exists() else 'the contracts folder does not exist'}")
    files = sorted(root.glob("*/*.yaml"))
    if not files:
        raise ContractError(f"{root}: holds no contract (expected <type>/<version>.yaml)")
    contracts = [load_contract_file(p, root) for p in files]
    strays = sorted(str(p.relative_to(root.parent)) for p in root.rglob("*") if p.is_file() and p.suffix in (".yml", ".json"))
    if strays:
        raise ContractError(f"{strays[0]}: contracts must be .yaml files named <type>/<version>.yaml")
    return contracts
