"""Checking a bind mapping before anything is bound (Context.bind).

Each error is refit.InvalidArgument naming the rank, the param and the cause,
in the words of refit_bind's own messages ("rank R: bind NAME: ...").
"""
from . import _views


def plan_binds(ctx, tensors):
    """[(ParamInfo, Described data, Described scales or None)] for `tensors`,
    or raise on the first entry that cannot be bound."""
    infos = {p.name: p for p in ctx.params()}
    if not infos:
        raise ctx._invalid("refit_bind", "bind: no param table yet (call open() first)")
    scale_owner = {p.scale_name: p for p in infos.values() if p.scale_name}
    for key in tensors:
        if key not in infos and key not in scale_owner:
            raise ctx._invalid("refit_bind", "bind %s: unknown param" % key)
    plan = []
    for name, t in tensors.items():
        if name in scale_owner:
            owner = scale_owner[name]
            if owner.name not in tensors:
                raise ctx._invalid("refit_bind", "bind %s: scales %s given without the param's data"
                                   % (owner.name, name))
            continue
        info = infos[name]
        data = _check_tensor(ctx, info.name, "data", t, info.dtype_code, info.shape)
        scales = None
        if info.scale_name:
            if info.scale_name not in tensors:
                raise ctx._invalid("refit_bind", "bind %s: quantized: its scales %s are missing from the mapping"
                                   % (info.name, info.scale_name))
            scales = _check_tensor(ctx, info.name, "scales " + info.scale_name, tensors[info.scale_name],
                                   info.scale_dtype_code, info.scale_shape)
        plan.append((info, data, scales))
    return plan


def _check_tensor(ctx, name, what, t, dtype, shape):
    d = _views.describe(t)
    where = "bind %s: %s" % (name, what)
    if d is None:
        raise ctx._invalid("refit_bind", "%s is a %s, not a torch.Tensor or numpy.ndarray" % (where, type(t).__name__))
    ok_dtypes = _views.accepted_dtype_names(d.kind, dtype)
    if d.dtype_name not in ok_dtypes:
        raise ctx._invalid("refit_bind", "%s has dtype %s, the param needs %s" % (where, d.dtype_name,
                                                                                 " or ".join(ok_dtypes)))
    if d.shape != tuple(shape):
        raise ctx._invalid("refit_bind", "%s has shape %s, the param needs %s" % (where, list(d.shape), list(shape)))
    if not d.contiguous:
        raise ctx._invalid("refit_bind", "%s is not contiguous (row-major)" % where)
    want = "cuda" if ctx.backend == "cuda" else "cpu"
    if d.device.split(":")[0] != want:
        raise ctx._invalid("refit_bind", "%s is on %s, the %s backend needs %s memory" % (where, d.device,
                                                                                        ctx.backend, want))
    return d
