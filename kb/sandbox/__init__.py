"""The sandbox: every snippet runs in a forked child of a zygote that imported torch
once, inside its own namespaces, with limits. See `kb.sandbox.zygote` for the
process tree and `kb.sandbox.child` for the layers.

kb uses `Sandbox` (start the zygote, `isolation()`, `run(jobs)`), `Job`, `Limits`
and the `Outcome`s it yields. Nothing here imports torch in kb's own process.

Which process runs which module (`protocol` is all that crosses between them):

    kb (parent)       session (Sandbox and its two backends), spawn.SpawnBackend,
                      protocol, environment, limits.Limits; never child
    zygote Z0/Z1      zygote, rootfs.python_binds / prepare, linux, seccomp.supported,
                      protocol, environment, child (forked, not run)
    sandboxed child   child.run, rootfs.enter, linux, limits.apply_rlimits,
                      seccomp.install, environment.snippet_environment, shell
    spawn fallback    spawn.main (a fresh interpreter), child.run_python, shell
"""

from kb.sandbox.limits import Limits
from kb.sandbox.protocol import Isolation, Job
from kb.sandbox.session import Outcome, Sandbox

__all__ = ["Isolation", "Job", "Limits", "Outcome", "Sandbox"]
