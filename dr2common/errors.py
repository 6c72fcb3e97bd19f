"""The one exception type for problems a user can fix.

The CLI prints its message as a single line and exits with code 2; everything
else is a bug and keeps its traceback. `storage_error` names a full disk or a
refused write as such (not as damaged input).
"""

import errno


class Dr2Error(Exception):
    """A problem with the user's input or environment; the message says what to do."""


_STORAGE_PROBLEMS = {
    errno.ENOSPC: "no space left on the device holding {path}; free some space (or choose another {option}) "
                  "and run again",
    errno.EDQUOT: "disk quota exceeded on the device holding {path}; free some space (or choose another {option}) "
                  "and run again",
    errno.EACCES: "cannot write {path}: permission denied; choose a writable {option}",
    errno.EPERM: "cannot write {path}: permission denied; choose a writable {option}",
    errno.EROFS: "cannot write {path}: read-only file system; choose a writable {option}",
    errno.ENOTDIR: "cannot write {path}: a part of that path is a file, not a directory; choose another {option}",
}


def storage_error(error: OSError, path, option: str = "--workspace") -> Dr2Error | None:
    """The one-line Dr2Error for a full disk or a write that is not allowed; None for other OS errors."""
    template = _STORAGE_PROBLEMS.get(error.errno)
    return Dr2Error(template.format(path=path, option=option)) if template else None
