"""The tree keeps its shape: imports point down, handlers are leaves composed in one place.

The layers, lowest first, are the README's architecture section; a module may
import from its own layer and the ones below it, never above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import handlers
from bot.commands.registry import Registry
from tests.harness import ROOT

LAYERS = (
    "core",
    "db",
    "github",
    "queue",
    "team",
    "advisories",
    "records",
    "governance",
    "commands",
    "context",
    "handlers",
    "app",
    "web",
    "cli",
)
LONGEST_MODULE = 450  # lines: "split every module over ~400 lines by responsibility"
LOOSE_MODULES_IN_BOT = 10


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("bot", "handlers"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "handlers":
        return "handlers"
    if parts[0] != "bot":
        return None
    if len(parts) == 1:
        return "core"  # the package's docstring
    return {"context": "context", "app": "app", "__main__": "cli"}.get(parts[1], parts[1])


def test_every_module_of_bot_is_in_a_layer() -> None:
    unknown = {m for m in _modules() if _layer(m) not in LAYERS}
    assert unknown == set()


def test_imports_point_down_only() -> None:
    upward = []
    for module, path in _modules().items():
        mine = LAYERS.index(str(_layer(module)))
        for imported in _imports(path):
            theirs = _layer(imported)
            if theirs is not None and LAYERS.index(theirs) > mine:
                upward.append(f"{module} ({LAYERS[mine]}) imports {imported} ({theirs})")
    assert upward == []


def test_handlers_are_leaves_composed_in_one_place() -> None:
    handler_modules = {m for m in _modules() if m.startswith("handlers.")}
    for module, path in _modules().items():
        reached = {name for name in _imports(path) if name in handler_modules}
        if module == "handlers":
            assert reached == handler_modules  # the composition names every handler
        else:
            assert reached == set(), f"{module} imports the handlers {sorted(reached)}"
    importers = {m for m, p in _modules().items() if "handlers" in _imports(p)} - {"handlers"}
    assert importers == {"bot.app"}  # the one module that runs them


def test_every_router_and_every_command_registry_is_composed() -> None:
    routed = set(handlers.ROUTED)
    declared: list[Registry] = []
    for name in sorted(m for m in _modules() if m.startswith("handlers.")):
        module = getattr(handlers, name.split(".")[1])
        router = getattr(module, "router", None)
        if router is not None:
            assert module in routed, f"{name} has a router that is not in ROUTED"
            assert router._shallow_routes or router._deep_routes, f"{name}: an empty router"
        registry = getattr(module, "COMMANDS", None)
        if registry is not None:
            assert registry.commands, f"{name}: an empty COMMANDS registry"
            declared.append(registry)
    names = [name for registry in declared for name in registry.commands]
    assert sorted(names) == sorted(handlers.COMMANDS.commands)


def test_bot_keeps_at_most_ten_loose_modules_and_none_is_too_long() -> None:
    loose = [p for p in (ROOT / "bot").glob("*.py")]
    assert len(loose) <= LOOSE_MODULES_IN_BOT, sorted(p.name for p in loose)
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules().values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST_MODULE
    }
    assert long == {}
