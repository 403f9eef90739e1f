"""``torch.backends.mps`` for cnnkit: there is no Apple-GPU backend, so both queries are False."""


def is_available():
    return False


def is_built():
    return False
