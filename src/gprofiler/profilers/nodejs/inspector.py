"""Talk to a running node through its inspector (Chrome DevTools Protocol), from the host.

SIGUSR1 makes node open its inspector on 127.0.0.1 (port 9229, or the next free one). The port is
found from /proc (listening sockets owned by the process, before and after the signal), and the
connection is made from inside the process's network namespace, so containers work the same.

Risk, documented in the README: once opened this way, Node.js (20 here) keeps the inspector
listening until the process exits; `inspector.close()` ends sessions but not the listener. Anything
that can reach that loopback port can run code in the process. An inspector a previous agent left
open is reused rather than a second one requested.
"""

import ctypes
import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import websocket

_CLONE_NEWNET = 0x40000000
_TCP_LISTEN = "0A"
# Where node puts an inspector opened by SIGUSR1 (9229, or the next ports when taken).
INSPECTOR_PORTS = range(9229, 9240)


class InspectorError(Exception):
    pass


def parse_listening_inodes(proc_net_tcp: str) -> dict[int, int]:
    """{socket inode: local port} of LISTEN sockets in /proc/PID/net/tcp (or tcp6) text."""
    listening = {}
    for line in proc_net_tcp.split("\n")[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == _TCP_LISTEN:
            try:
                port = int(fields[1].rsplit(":", 1)[-1], 16)
                listening[int(fields[9])] = port
            except ValueError:
                continue
    return listening


def listening_ports(proc_root: Path, pid: int) -> set[int]:
    """TCP ports the process itself listens on (its sockets among its netns' listeners)."""
    base = proc_root / str(pid)
    listeners: dict[int, int] = {}
    for name in ("tcp", "tcp6"):
        try:
            listeners.update(parse_listening_inodes((base / "net" / name).read_text()))
        except OSError:
            continue
    ports: set[int] = set()
    try:
        descriptors = os.listdir(base / "fd")
    except OSError:
        return ports
    for fd in descriptors:
        try:
            target = os.readlink(base / "fd" / fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inode = int(target[8:-1])
            if inode in listeners:
                ports.add(listeners[inode])
    return ports


def _connect_in_netns(proc_root: Path, pid: int, port: int, timeout: float) -> socket.socket:
    """A TCP connection to 127.0.0.1:port made inside the network namespace of `pid`."""
    target_ns = proc_root / str(pid) / "ns" / "net"
    if os.stat(target_ns).st_ino == os.stat("/proc/self/ns/net").st_ino:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout)
    outcome: dict[str, Any] = {}

    def connect() -> None:
        # setns() moves only this thread, which then ends; the socket stays in the target netns.
        libc = ctypes.CDLL(None, use_errno=True)
        with open(target_ns, "rb") as ns:
            if libc.setns(ns.fileno(), _CLONE_NEWNET) != 0:
                outcome["error"] = OSError(ctypes.get_errno(), "setns(CLONE_NEWNET) failed")
                return
        try:
            outcome["socket"] = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as error:
            outcome["error"] = error

    thread = threading.Thread(target=connect, name=f"netns-connect-{pid}", daemon=True)
    thread.start()
    thread.join(timeout + 1)
    if "socket" not in outcome:
        raise InspectorError(
            f"cannot connect to the inspector of pid {pid}: {outcome.get('error', 'timeout')}"
        )
    connection: socket.socket = outcome["socket"]
    return connection


class InspectorSession:
    """One DevTools connection to one node process."""

    def __init__(self, ws: websocket.WebSocket, pid: int) -> None:
        self.ws, self.pid = ws, pid
        self._next_id = 1

    @classmethod
    def open(
        cls, proc_root: Path, pid: int, timeout: float, cancel: threading.Event | None = None
    ) -> "InspectorSession":
        """Connect to the inspector of `pid`, asking node to open one (SIGUSR1) if it has none.

        Setting `cancel` abandons the wait for the inspector to come up.
        """
        port, url = cls._existing(proc_root, pid, timeout)
        if url is None:
            before = listening_ports(proc_root, pid)
            os.kill(pid, signal.SIGUSR1)
            deadline = time.monotonic() + timeout
            ports: set[int] = set()
            while not ports:
                if cancel is not None and cancel.is_set():
                    raise InspectorError(f"attaching to node pid {pid} cancelled: the agent is stopping")
                if time.monotonic() > deadline:
                    raise InspectorError(
                        f"node pid {pid} did not open its inspector (is SIGUSR1 used by the app?)"
                    )
                time.sleep(0.05)
                ports = listening_ports(proc_root, pid) - before
            port = min(ports)
            url = cls._debugger_url(proc_root, pid, port, timeout)
        sock = _connect_in_netns(proc_root, pid, port, timeout)
        try:
            ws = websocket.create_connection(
                url, timeout=timeout, socket=sock, host=f"127.0.0.1:{port}", suppress_origin=True
            )
        except (OSError, websocket.WebSocketException) as error:
            sock.close()
            raise InspectorError(f"inspector handshake with pid {pid} failed: {error}") from error
        return cls(ws, pid)

    @classmethod
    def _existing(cls, proc_root: Path, pid: int, timeout: float) -> tuple[int, str | None]:
        """An inspector the process already listens with, on node's usual ports."""
        for port in sorted(listening_ports(proc_root, pid) & set(INSPECTOR_PORTS)):
            try:
                return port, cls._debugger_url(proc_root, pid, port, timeout)
            except InspectorError:
                continue
        return 0, None

    @staticmethod
    def _debugger_url(proc_root: Path, pid: int, port: int, timeout: float) -> str:
        sock = _connect_in_netns(proc_root, pid, port, timeout)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.sock = sock
        try:
            connection.request("GET", "/json/list", headers={"Host": f"127.0.0.1:{port}"})
            response = connection.getresponse()
            targets = json.loads(response.read(1 << 20))
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise InspectorError(f"cannot list inspector targets of pid {pid}: {error}") from error
        finally:
            connection.close()
        if not isinstance(targets, list) or not targets or "webSocketDebuggerUrl" not in targets[0]:
            raise InspectorError(f"unexpected inspector target list from pid {pid}")
        url: str = targets[0]["webSocketDebuggerUrl"]
        return url

    def evaluate(self, expression: str) -> Any:
        """Run `expression` in the main context; return its value (JSON-able results only)."""
        request_id = self._next_id
        self._next_id += 1
        self.ws.send(
            json.dumps(
                {
                    "id": request_id,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expression, "returnByValue": True},
                }
            )
        )
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") != request_id:
                continue  # an event, not our answer
            if "error" in message:
                raise InspectorError(f"pid {self.pid}: {message['error'].get('message', message['error'])}")
            result = message.get("result", {})
            if "exceptionDetails" in result:
                details = result["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                raise InspectorError(f"pid {self.pid}: {text}")
            return result.get("result", {}).get("value")

    def close(self) -> None:
        """End our session (node keeps its listener: see the module's docstring)."""
        self.ws.close()
