"""The sandbox: every snippet runs in a forked child of a zygote that imported torch
once, inside its own namespaces, with limits. See `kb.sandbox.zygote` for the
process tree and `kb.sandbox.child` for the layers.

kb uses `Sandbox` (start the zygote, `isolation()`, `run(jobs)`), `Job`, `Limits`
and the `Outcome`s it yields. Nothing here imports torch in kb's own process.
"""

from kb.sandbox.child import Job
from kb.sandbox.limits import Limits
from kb.sandbox.session import Isolation, Outcome, Sandbox

__all__ = ["Isolation", "Job", "Limits", "Outcome", "Sandbox"]
