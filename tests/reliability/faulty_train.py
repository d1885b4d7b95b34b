"""tools/train.py with one fault injected into checkpoint writes (a helper of the reliability tests).

    PPCLS_FAULT=<kind>:<file name pattern>:<skip>[:<seconds>]  PPCLS_FAULT_MARKER=<file>  python faulty_train.py ARGS

kinds
  stall_write   inside the write of a matching checkpoint file (its bytes written to the `.tmp-` file, before the
                fsync and the rename) append a line to the marker file and sleep <seconds> (default 60)
  stall_commit  just before a staged matching file that differs from the file it replaces is renamed into place
                (a re-save of unchanged weights does not count): marker line, then sleep
  enospc        the fsync of a matching file fails with OSError(ENOSPC), as on a full disk
The pattern is an fnmatch pattern on the file name (e.g. latest.pdopt, epoch_*.pdparams); the first <skip>
matching writes go through untouched. Without PPCLS_FAULT this is plain tools/train.py.
"""
import errno
import fnmatch
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))


def install(spec, marker):
    import ppcls_lite.engine.checkpoint as ckpt
    from ppcls_lite.serialization import file_sha256

    kind, pattern, skip, *rest = spec.split(":")
    seconds = float(rest[0]) if rest else 60.0
    seen = [0]

    def hit(path):
        if not fnmatch.fnmatch(os.path.basename(path), pattern):
            return False
        seen[0] += 1
        return seen[0] > int(skip)

    def announce(path):
        with open(marker, "a") as f:
            f.write(f"{kind} {path}\n")

    real_write, real_commit = ckpt.write_temp, ckpt.commit_file
    if kind in ("stall_write", "enospc"):
        def write_temp(obj, path, checksum=False):
            if not hit(path):
                return real_write(obj, path, checksum=checksum)
            real_fsync = os.fsync

            def fsync(fd):
                if kind == "enospc":
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                announce(path)
                time.sleep(seconds)
                return real_fsync(fd)

            os.fsync = fsync
            try:
                return real_write(obj, path, checksum=checksum)
            finally:
                os.fsync = real_fsync

        ckpt.write_temp = write_temp
    elif kind == "stall_commit":
        def commit_file(tmp, path):
            changed = not os.path.exists(path) or file_sha256(tmp) != file_sha256(path)
            if changed and hit(path):
                announce(path)
                time.sleep(seconds)
            return real_commit(tmp, path)

        ckpt.commit_file = commit_file
    else:
        raise SystemExit(f"faulty_train.py: unknown fault kind {kind!r}")


if __name__ == "__main__":
    if os.environ.get("PPCLS_FAULT"):
        install(os.environ["PPCLS_FAULT"], os.environ["PPCLS_FAULT_MARKER"])
    import train  # tools/train.py

    sys.exit(train.main(sys.argv[1:]))
