"""DataLoader workers die with the process that started them and leave no shared memory behind, even when that
process is killed with SIGKILL (which runs no Python code, so no cleanup of its own can help).

- Each worker asks the kernel for a SIGKILL when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`), so a
  `kill -9` of the training process does not leave its workers running, parented to init.
- A small reaper process (this file run as a script: no Paddle, a few MB) reads a pipe whose write end the
  parent holds. Each worker writes its pid into the pipe and closes its copy. When the parent is gone the pipe
  reaches end-of-file; after an abrupt end the reaper kills any reported worker still alive (where PDEATHSIG
  is missing); either way it waits for them, and removes their Paddle shared-memory segments
  (`/dev/shm/paddle_<pid>_*`): batches a killed worker had prepared and nobody will ever read. After a normal
  exit (the parent writes "exit" first) it finds nothing to do; after an abrupt end it writes one `error:` line
  to the parent's stderr, so a log cut short by a SIGKILL or a C++ abort says what happened.
"""
import atexit
import os
import signal
import subprocess
import sys
import time
import weakref

_PR_SET_PDEATHSIG = 1
_CLEAN_EXIT = b"exit\n"
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
                                            stdin=read_fd, stdout=subprocess.DEVNULL, start_new_session=True)
        except OSError:
            os.close(write_fd)
            self._reaper = None
            return
        finally:
            os.close(read_fd)
        self._parent, self._write_fd = os.getpid(), write_fd
        atexit.register(_close_if_alive, weakref.ref(self))  # weak: a dropped loader's guard still closes

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
                os.write(self._write_fd, _CLEAN_EXIT)
                os.close(self._write_fd)
            except OSError:
                pass
        self._write_fd = None
        self._reaper = None

    def __del__(self):
        self.close()


def _close_if_alive(ref):
    guard = ref()
    if guard is not None:
        guard.close()


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
    workers, clean = {}, False
    for line in stream:  # returns at end-of-file: the parent and every worker have closed their ends
        if line == _CLEAN_EXIT:
            clean = True
            continue
        try:
            pid = int(line)
        except ValueError:
            continue
        workers[pid] = _start_time(pid)
    alive = {pid for pid, start in workers.items() if start is not None and _start_time(pid) == start}
    for pid in alive if not clean else ():  # after a clean exit the loader ends its own workers
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.time() + 10
    while alive and time.time() < deadline:
        alive = {pid for pid in alive if _start_time(pid) == workers[pid]}
        time.sleep(0.05)
    removed = 0
    for pid in [parent, *workers]:
        prefix = f"paddle_{pid}_"
        try:
            names = [n for n in os.listdir(_SHM_DIR) if n.startswith(prefix)]
        except OSError:
            break
        for name in names:
            try:
                os.unlink(os.path.join(_SHM_DIR, name))
                removed += 1
            except OSError:
                pass
    if not clean and workers:
        sys.stderr.write(f"error: process {parent} ended abruptly (killed, or aborted: see above); its data loader "
                         f"worker processes are stopped and {removed} shared-memory segment(s) removed\n")
        sys.stderr.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _reap(int(sys.argv[1]), sys.stdin.buffer)
