"""The kernel each stage notebook runs in: over IPC (Unix sockets), not TCP.

ipykernel 7.3+ warns at every start that a kernel bound to TCP without CurveZMQ keys talks in plain
text; a run printed it six times into the operator's terminal. Stage kernels live on the machine that
runs credit-lab, so Unix sockets in a private temporary folder (mode 0700, removed when the kernel
stops) are the native transport: no port is opened and there is nothing to warn about. The socket
path is absolute because the kernel and its client resolve a relative one against their own working
directories.

The kernel process's own output (its logging, and the "KeyboardInterrupt caught in kernel" that
jupyter_client's interrupt-then-shutdown sometimes provokes) goes to the run's ``logs/kernels.log``,
not the operator's terminal; what the notebook's code prints is in the executed notebook.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import KernelManager

__all__ = ["IPCKernelManager", "kernel_manager_logging_to"]


class IPCKernelManager(KernelManager):
    """A :class:`jupyter_client.KernelManager` whose kernel listens on Unix sockets in a private folder."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._socket_dir = tempfile.mkdtemp(prefix="credit-lab-kernel-")  # created 0700
        self.transport = "ipc"
        self.ip = os.path.join(self._socket_dir, "kernel")

    #: file the kernel process's stdout and stderr are appended to (None: inherited, i.e. the terminal)
    output_file: str | None = None

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if self.output_file is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        with open(self.output_file, "ab") as out:  # the child keeps its own copy of the descriptor
            kw.setdefault("stdout", out)
            kw.setdefault("stderr", out)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    def cleanup_resources(self, restart: bool = False) -> None:
        super().cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._socket_dir, ignore_errors=True)


def kernel_manager_logging_to(path: str | Path) -> type[IPCKernelManager]:
    """An :class:`IPCKernelManager` class whose kernels write their own output to ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return type("RunKernelManager", (IPCKernelManager,), {"output_file": str(path)})
