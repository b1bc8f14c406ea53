"""The task registry: one module per task, each one `Task` record (vauflow.tasks.task) with everything a stage
needs to know about it. Stages iterate over `TASKS` or look a task up with `get`; a task's name appears outside this
package only in config and tests.

Adding a task is one module here that defines `TASK` (it is found by its presence: every module of the package that
defines one is registered) and the config that trains and evaluates it (README: "Adding a task")."""

import importlib
import pkgutil

from vauflow.tasks.task import Task

# the paper's tasks first, in the tables' order (A, B, C, ball) and then the reasoning (the tokenizer corpus's
# order too); any other task module after them, by name
BUILT_IN = ("qa", "tag", "cls", "ball", "reasoning")


def _discover():
    extra = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in BUILT_IN)
    found = {}
    for name in (*BUILT_IN, *extra):
        task = getattr(importlib.import_module(f"{__name__}.{name}"), "TASK", None)
        if isinstance(task, Task):
            found[task.name] = task
    return found


TASKS: dict[str, Task] = _discover()


def get(name) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r} (tasks: {', '.join(TASKS)})") from None


def trainable():
    """Names of the tasks SFT and GRPO can train."""
    return [n for n, t in TASKS.items() if t.trainable]


def tabled():
    """The tasks with a paper table, in the tables' order."""
    return [t for t in TASKS.values() if t.table is not None]


def demo_tasks():
    """Tasks `vauflow demo` can ask of a single video: their prompts need no annotation row."""
    return [n for n, t in TASKS.items() if t.demo_answer is not None]
