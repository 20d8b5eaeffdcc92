"""Load playbook YAML into models; every error names ``file:line: key.path: what is wrong``.

Expressions and templates are compiled at load time too, so a typo in a ``when`` fails validation instead of
failing a run at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.core.errors import PlaybookError
from playbooks.engine import expressions
from playbooks.engine.models import ACTIONS_CONTEXT, Playbook, Step
from playbooks.engine.registry import ActionRegistry, StepRegistry, builtin_actions
from playbooks.engine.steps import builtin_steps

LIBRARY = "playbooks.library"


@dataclass(frozen=True, slots=True)
class Registries:
    """The step kinds and actions a playbook is validated against (the same ones the engine runs)."""

    steps: StepRegistry
    actions: ActionRegistry

    @classmethod
    def builtin(cls) -> Registries:
        """The shipped step kinds and actions."""
        return cls(builtin_steps(), builtin_actions())


@dataclass(frozen=True, slots=True)
class LoadedPlaybook:
    """A validated playbook and the file it came from."""

    playbook: Playbook
    path: str


class PlaybookInvalid(PlaybookError):
    """A playbook file is invalid; ``problems`` holds one ``file:line: key: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_text(text: str, path: str, registries: Registries | None = None) -> Playbook:
    """Parse and validate one playbook document against ``registries`` (default: the built-in ones)."""
    registries = registries or Registries.builtin()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise PlaybookInvalid([f"{path}:{line}: {getattr(err, 'problem', None) or 'invalid YAML'}"]) from None
    if not isinstance(data, dict):
        raise PlaybookInvalid([f"{path}:1: a playbook is a mapping with name, trigger and steps"])
    trigger = data.get("trigger")
    if isinstance(trigger, dict) and True in trigger:
        # YAML 1.1 reads a bare `on:` key as the boolean true (GitHub Actions has the same quirk).
        trigger["on"] = trigger.pop(True)
    try:
        model = registries.steps.playbook_model()
        playbook = model.model_validate(data, context={ACTIONS_CONTEXT: registries.actions})
    except ValidationError as err:
        problems = []
        for error in err.errors(include_input=False, include_url=False):
            loc = [part for part in error["loc"] if not (isinstance(part, str) and "[" in part)]
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
                if _in_step(loc):
                    message = f"unknown key; a step has one of: {', '.join([*registries.steps.names(), 'parallel'])}"
            elif error["type"] == "missing":
                message = "field required"
            where = ".".join(str(p) for p in loc) or "<root>"
            problems.append(f"{path}:{_line(root, loc)}: {where}: {message}")
        raise PlaybookInvalid(problems) from None
    problems = [
        f"{path}:{_line(root, loc)}: {'.'.join(map(str, loc))}: {msg}"
        for loc, msg in _check_templates(playbook, registries.steps)
    ]
    if problems:
        raise PlaybookInvalid(problems)
    return playbook


def load_file(path: Path, registries: Registries | None = None) -> Playbook:
    """Load one playbook file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PlaybookInvalid([f"{path}:0: cannot read ({err.__class__.__name__})"]) from err
    return load_text(text, str(path), registries)


def library_files() -> list[Path]:
    """The shipped playbooks."""
    folder = resources.files(LIBRARY)
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml")))


def load_all(extra_dirs: Iterable[Path] = (), registries: Registries | None = None) -> list[LoadedPlaybook]:
    """The shipped library plus every ``*.yaml``/``*.yml`` in ``extra_dirs``; all problems are collected."""
    registries = registries or Registries.builtin()
    files = library_files()
    for folder in extra_dirs:
        if not folder.is_dir():
            raise PlaybookInvalid([f"{folder}:0: playbooks_dir is not a directory"])
        files += sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    loaded: list[LoadedPlaybook] = []
    problems: list[str] = []
    names: dict[str, str] = {}
    for file in files:
        try:
            playbook = load_file(file, registries)
        except PlaybookInvalid as err:
            problems.extend(err.problems)
            continue
        if playbook.name in names:
            problems.append(f"{file}:1: name: playbook {playbook.name!r} is also defined in {names[playbook.name]}")
            continue
        names[playbook.name] = str(file)
        loaded.append(LoadedPlaybook(playbook, str(file)))
    if problems:
        raise PlaybookInvalid(problems)
    return loaded


def _line(node: yaml.Node | None, loc: Sequence[Any]) -> int:
    """The line of the deepest YAML node along ``loc``."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            names = {str(part)} | ({"on", "true", "yes"} if part == "on" else set())
            match = next((v for k, v in node.value if getattr(k, "value", None) in names), None)
            if match is None:
                break
            key = next(k for k, v in node.value if v is match)
            line, node = key.start_mark.line + 1, match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _in_step(loc: Sequence[Any]) -> bool:
    """True when ``loc`` names a key directly on a step (``steps.0.x``, ``steps.0.parallel.1.x``)."""
    return len(loc) >= 3 and loc[-3] in ("steps", "parallel") and isinstance(loc[-2], int)


def _check_templates(playbook: Playbook, steps: StepRegistry) -> list[tuple[list[Any], str]]:
    """Compile every expression and template; return ``(location, message)`` for each that does not."""
    problems: list[tuple[list[Any], str]] = []
    if playbook.trigger.when:
        _compile(problems, ["trigger", "when"], playbook.trigger.when, expression=True)
    for index, step in enumerate(playbook.steps):
        _check_step(problems, ["steps", index], step, steps)
    return problems


def _check_step(problems: list[tuple[list[Any], str]], loc: list[Any], step: Step, steps: StepRegistry) -> None:
    for name in ("when", "for_each"):
        condition = getattr(step, name)
        if condition is not None:
            _compile(problems, [*loc, name], condition, expression=True)
    if step.parallel is not None:
        for index, inner in enumerate(step.parallel):
            _check_step(problems, [*loc, "parallel", index], inner, steps)
        return
    kind = steps.get(step.kind)
    expressions_ = kind.expressions if kind is not None else frozenset()
    for key, value in _strings(step.args.model_dump()):
        _compile(problems, [*loc, step.kind, *key], value, expression=key[-1] in expressions_)


def _strings(value: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, i))


def _compile(problems: list[tuple[list[Any], str]], loc: list[Any], text: str, *, expression: bool) -> None:
    try:
        expressions.compile_check(text, expression=expression)
    except PlaybookError as err:
        problems.append((loc, str(err)))
