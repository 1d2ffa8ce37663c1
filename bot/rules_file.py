"""Load rules.yaml safely and report every problem as `file:line:column: reason`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.core.rules import RuleSet


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One problem in a rules file, located for editors and humans."""

    path: str
    line: int  # 1-based
    column: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.reason}"


class RulesError(Exception):
    """rules.yaml could not be used; `problems` says where and why."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rules file; raise RulesError with located problems."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([RuleProblem(str(path), 1, 1, f"cannot read the file: {exc}")]) from exc
    return parse_rules(text, str(path))


def parse_rules(text: str, path: str = "rules.yaml") -> RuleSet:
    """Validate rules given as YAML text."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise RulesError([_yaml_problem(path, exc)]) from exc
    except yaml.YAMLError as exc:
        raise RulesError([RuleProblem(path, 1, 1, str(exc))]) from exc
    if not isinstance(data, dict):
        raise RulesError([RuleProblem(path, 1, 1, "the file must be a mapping of sections")])
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesError([_schema_problem(path, node, err) for err in exc.errors()]) from exc


def peek_language(path: str | Path) -> str:
    """The `language:` of a rules file, even a broken one; "en" when it cannot be read."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "en"
    language = data.get("language") if isinstance(data, dict) else None
    return language if language in ("ru", "en") else "en"


def rules_json_schema() -> dict[str, Any]:
    """The JSON Schema of rules.yaml, for editors (yaml-language-server)."""
    schema = RuleSet.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "smmbot rules.yaml"
    return schema


def schema_text() -> str:
    """The JSON Schema as pretty JSON text."""
    return json.dumps(rules_json_schema(), ensure_ascii=False, indent=2)


def _yaml_problem(path: str, exc: yaml.MarkedYAMLError) -> RuleProblem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    reason = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
    return RuleProblem(path, line, column, f"YAML syntax: {reason}")


def _schema_problem(path: str, root: yaml.Node | None, error: Any) -> RuleProblem:
    location = tuple(_public_loc(error["loc"]))
    node, found_key = _locate(root, location, error["type"])
    mark = node.start_mark if node is not None else None
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    dotted = ".".join(str(part) for part in location) or "(top level)"
    message = _reason(error, found_key, location)
    return RuleProblem(path, line, column, f"{dotted}: {message}")


def _public_loc(loc: tuple[Any, ...]) -> list[Any]:
    # pydantic adds union and validator branch names ("function-before[...]"); drop them.
    return [part for part in loc if isinstance(part, int) or "[" not in str(part)]


def _locate(root: yaml.Node | None, loc: tuple[Any, ...], kind: str) -> tuple[Any, bool]:
    node, found = root, True
    for part in loc:
        child = _child(node, part, want_key=(kind == "extra_forbidden" and part == loc[-1]))
        if child is None:
            return node, False
        node = child
    return node, found


def _child(node: yaml.Node | None, part: Any, want_key: bool) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                return key_node if want_key else value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return item
    return None


def _reason(error: Any, found_key: bool, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


class RulesSource:
    """The rules in force: reloaded on demand or on change, keeping the last good set on errors."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rules = load_rules(self.path)  # at start a bad file is fatal: fail fast
        self._stamp = self._file_stamp()

    @property
    def rules(self) -> RuleSet:
        """The rules in force now."""
        return self._rules

    def __call__(self) -> RuleSet:
        return self._rules

    def reload(self) -> list[RuleProblem]:
        """Load the file again; on problems keep the current rules and return the problems."""
        self._stamp = self._file_stamp()
        try:
            self._rules = load_rules(self.path)
        except RulesError as exc:
            return exc.problems
        return []

    def changed(self) -> bool:
        """Whether the file changed since it was last read."""
        return self._file_stamp() != self._stamp

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)
