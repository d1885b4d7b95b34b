"""DataLoader workers die with the process that started them and leave no shared memory behind, even when that
process is killed with SIGKILL (which runs no Python code, so no cleanup of its own can help).

- Each worker asks the kernel for a SIGKILL when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`), so a
  `kill -9` of the training process does not leave its workers running, parented to init.
- A small reaper process (this file run as a script: no Paddle, a few MB) reads a pipe whose write end the
  parent holds. Each worker writes its pid into the pipe and closes its copy. When the parent is gone the pipe
  reaches end-of-file; the reaper then kills any reported worker still alive (where PDEATHSIG is missing),
  waits for them, and removes their Paddle shared-memory segments (`/dev/shm/paddle_<pid>_*`): batches a killed
  worker had prepared and nobody will ever read. After a normal exit it finds nothing to do.
"""
import os
import signal
import subprocess
import sys
import time

_PR_SET_PDEATHSIG = 1
_SHM_DIR = "/dev/shm"


def _die_with_parent():
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere the reaper does it)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


class WorkerGuard:
    """Started by a loader before it forks workers; `in_worker()` runs first thing in every worker."""

    def __init__(self):
        self._parent = None
        self._write_fd = None
        self._reaper = None

    def start(self):
        """Start the reaper of this process (once; again after a fork or if it has died)."""
        if self._reaper is not None and self._parent == os.getpid() and self._reaper.poll() is None:
            return
        self.close()
        read_fd, write_fd = os.pipe()
        try:
            # A session of its own: a Ctrl-C or a kill of the process group does not stop the cleanup.
            self._reaper = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(os.getpid())],
                                            stdin=read_fd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
        except OSError:
            os.close(write_fd)
            self._reaper = None
            return
        finally:
            os.close(read_fd)
        self._parent, self._write_fd = os.getpid(), write_fd

    def in_worker(self):
        """In a freshly forked worker: die with the parent; report this pid to the reaper."""
        _die_with_parent()
        if self._parent is not None and os.getppid() != self._parent:
            os._exit(1)  # the parent died before the request above took effect
        if self._write_fd is not None:
            try:
                os.write(self._write_fd, f"{os.getpid()}\n".encode())
                os.close(self._write_fd)
            except OSError:
                pass
            self._write_fd = None

    def close(self):
        """Close the parent's end of the pipe: the reaper cleans up what is left and exits."""
        if self._write_fd is not None and self._parent == os.getpid():
            try:
                os.close(self._write_fd)
            except OSError:
                pass
        self._write_fd = None
        self._reaper = None

    def __del__(self):
        self.close()


def _start_time(pid):
    """The kernel's start time of `pid` (to tell a worker from a later process with the same pid), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    return fields[19] if len(fields) > 19 and fields[0] != b"Z" else None


def _reap(parent, stream):
    workers = {}
    for line in stream:  # returns at end-of-file: the parent and every worker have closed their ends
        try:
            pid = int(line)
        except ValueError:
            continue
        workers[pid] = _start_time(pid)
    alive = {pid for pid, start in workers.items() if start is not None and _start_time(pid) == start}
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.time() + 10
    while alive and time.time() < deadline:
        alive = {pid for pid in alive if _start_time(pid) == workers[pid]}
        time.sleep(0.05)
    for pid in [parent, *workers]:
        prefix = f"paddle_{pid}_"
        try:
            names = [n for n in os.listdir(_SHM_DIR) if n.startswith(prefix)]
        except OSError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(_SHM_DIR, name))
            except OSError:
                pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _reap(int(sys.argv[1]), sys.stdin.buffer)
