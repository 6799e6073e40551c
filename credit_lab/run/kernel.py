"""The kernel each stage notebook runs in: over IPC (Unix sockets), not TCP.

ipykernel 7.3+ warns at every start that a kernel bound to TCP without CurveZMQ keys talks in plain
text; a run printed it six times into the operator's terminal. Stage kernels live on the machine that
runs credit-lab, so Unix sockets in a private temporary folder (mode 0700, removed when the kernel
stops) are the native transport: no port is opened and there is nothing to warn about. The socket
path is absolute because the kernel and its client resolve a relative one against their own working
directories.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from jupyter_client.manager import KernelManager

__all__ = ["IPCKernelManager"]


class IPCKernelManager(KernelManager):
    """A :class:`jupyter_client.KernelManager` whose kernel listens on Unix sockets in a private folder."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._socket_dir = tempfile.mkdtemp(prefix="credit-lab-kernel-")  # created 0700
        self.transport = "ipc"
        self.ip = os.path.join(self._socket_dir, "kernel")

    def cleanup_resources(self, restart: bool = False) -> None:
        super().cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
