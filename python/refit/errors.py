"""refit.Error and one subclass per refit_status (include/refit.h)."""


class Error(Exception):
    """A refit call failed. .status: the refit_status number; .status_name:
    refit_status_str's text; .call: the C function (or Python check) that
    failed; .cause: the first cause, as refit_last_error gives it ("rank R:
    ...") or as the Python check wrote it."""

    status = None

    def __init__(self, call, status, status_name, cause):
        self.call, self.status, self.status_name, self.cause = call, status, status_name, cause
        super().__init__("%s: %s: %s" % (call, status_name, cause) if cause else "%s: %s" % (call, status_name))


# (refit_status value, class name, builtin exception it also is), in refit.h's order.
_TABLE = [
    (1, "InvalidArgument", ValueError),   # REFIT_ERR_INVALID_ARG
    (2, "IOFailure", OSError),            # REFIT_ERR_IO
    (3, "FormatError", None),             # REFIT_ERR_FORMAT
    (4, "MismatchError", None),           # REFIT_ERR_MISMATCH
    (5, "UnsupportedError", None),        # REFIT_ERR_UNSUPPORTED
    (6, "NumericError", None),            # REFIT_ERR_NUMERIC
    (7, "OutOfMemory", MemoryError),      # REFIT_ERR_NOMEM
    (8, "CommError", None),               # REFIT_ERR_COMM
    (9, "DeviceError", None),             # REFIT_ERR_DEVICE
    (10, "RemoteError", None),            # REFIT_ERR_REMOTE: another rank failed
    (11, "Timeout", TimeoutError),        # REFIT_ERR_TIMEOUT
    (12, "StateError", None),             # REFIT_ERR_STATE
    (13, "InternalError", None),          # REFIT_ERR_INTERNAL
]

BY_STATUS = {}
for _status, _name, _builtin in _TABLE:
    _cls = type(_name, (Error,) + ((_builtin,) if _builtin else ()),
                {"status": _status, "__module__": __name__, "__doc__": "refit status %d" % _status})
    globals()[_name] = _cls
    BY_STATUS[_status] = _cls

InvalidArgument = BY_STATUS[1]
StateError = BY_STATUS[12]
UnsupportedError = BY_STATUS[5]


def from_status(call, status, status_name, cause):
    return BY_STATUS.get(status, Error)(call, status, status_name, cause)
