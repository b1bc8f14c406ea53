"""The task registry: one module per task, each one `Task` record (vauflow.tasks.task) with everything a stage
needs to know about it. Stages iterate over `TASKS` or look a task up with `get`; a task's name appears outside this
package only in config and tests.

Adding a task: a module here that builds its `Task` (rows in `<linked>/<split>/<name>.jsonl`, prompts, targets,
rewards, metric, baseline, frame budget, table), its entry in `TASKS`, and the config that trains and evaluates it
(README: "Adding a task")."""

from vauflow.tasks import ball, cls, qa, reasoning, tag
from vauflow.tasks.task import Task

# order: the tables' and the tokenizer corpus's (trained tasks first)
TASKS: dict[str, Task] = {t.name: t for t in (qa.TASK, tag.TASK, cls.TASK, ball.TASK, reasoning.TASK)}


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


def register(task: Task):
    """Add a task defined outside the package (a plugin, a test's toy task)."""
    TASKS[task.name] = task
    return task
