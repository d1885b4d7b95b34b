"""`kill -9` of a training process leaves none of its DataLoader workers running and none of their shared-memory
segments in /dev/shm -- one process, and one rank under paddle.distributed.launch (issue 10, item 8)."""
import os
import signal
import subprocess
import sys
import time

import yaml

from tests.engine.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "tools", "train.py")


def _config(tmp_path):
    """ResNet18 at 32 px, 2 workers passing batches through shared memory, long enough to be killed mid-run."""
    path = tiny_config(tmp_path, train_per_class=8, val_per_class=2, batch_size=4, epochs=200, workers=2,
                       extra_global={"use_visualdl": False, "print_batch_step": 1})
    cfg = yaml.safe_load(open(path))
    cfg["DataLoader"]["Train"]["loader"]["use_shared_memory"] = True
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _alive(pid):
    st = _state(pid)
    return st is not None and st[0] != "Z"  # a zombie holds nothing; reaping it is its new parent's business


def _descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _state(int(name))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def _segments(pids):
    prefixes = tuple(f"paddle_{p}_" for p in pids)
    return [n for n in os.listdir("/dev/shm") if n.startswith(prefixes)]


def _wait(condition, what, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _ranks(launcher):
    """{rank: pid} of the train.py processes the launcher started (their children are workers and reapers)."""
    children = {}
    for name in os.listdir("/proc"):
        st = _state(name) if name.isdigit() else None
        if st is not None and int(st[1]) == launcher:
            children[int(name)] = st
    out = {}
    for pid in children:
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        rank = next((int(e.split(b"=")[1]) for e in env if e.startswith(b"PADDLE_TRAINER_ID=")), None)
        if rank is not None:
            out[rank] = pid
    return out


def _assert_all_gone(pids):
    _wait(lambda: not any(_alive(p) for p in pids), "every process of the job to end", timeout=30)
    _wait(lambda: not _segments(pids), "their /dev/shm segments to be removed", timeout=30)


def test_kill_9_of_a_single_process_run_leaves_no_worker_and_no_shm(tmp_path):
    cfg = _config(tmp_path)
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen([sys.executable, TRAIN, "-c", cfg], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        # training under way, and workers holding shared-memory batches
        _wait(lambda: len(_descendants(proc.pid)) >= 3 and _segments(_descendants(proc.pid)),
              "2 workers, the reaper and a shared-memory batch")
        job = [proc.pid] + _descendants(proc.pid)
        assert _segments(job)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _assert_all_gone(job)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    # the log, cut short by the kill, ends with the reaper's account of it
    last = open(tmp_path / "log.txt").read().strip().splitlines()[-1]
    assert last.startswith(f"error: process {proc.pid} ended abruptly") and "worker processes are stopped" in last


def test_kill_9_of_one_rank_under_the_launcher_leaves_no_process_and_no_shm(tmp_path):
    cfg = _config(tmp_path)
    logs = tmp_path / "launch"
    launcher = subprocess.Popen([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
                                 "--log_dir", str(logs), TRAIN, "-c", cfg],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        def ranks_ready():
            ranks = _ranks(launcher.pid)
            return len(ranks) == 2 and all(len(_descendants(p)) >= 3 for p in ranks.values()) and \
                _segments(_descendants(ranks[1]))

        _wait(ranks_ready, "2 ranks with their workers and reapers", timeout=180)
        ranks = _ranks(launcher.pid)
        job = _descendants(launcher.pid)
        os.kill(ranks[1], signal.SIGKILL)
        launcher.wait(timeout=180)
        assert launcher.returncode != 0
        _assert_all_gone(job)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    # Rank 0 meets the dead peer either in a collective called from Python (one line, no traceback) or inside
    # the backward pass, where gloo's exception aborts the process from C++; then its reaper says so last.
    log0 = open(logs / "workerlog.0").read()
    last = log0.strip().splitlines()[-1]
    assert ("another process of the data-parallel job is gone" in last and "Traceback" not in log0) or \
        last.startswith(f"error: process {ranks[0]} ended abruptly"), log0[-3000:]
    last = open(logs / "workerlog.1").read().strip().splitlines()[-1]
    assert last.startswith(f"error: process {ranks[1]} ended abruptly"), last
