"""``torch.backends.cudnn`` for cnnkit: cnnkit never calls cuDNN (its CUDA convolutions are its own
kernels), so ``is_available()`` is False and the flags are stored but have no effect. cnnkit's kernels do
not pick algorithms by timing, so ``benchmark`` could not change speed, and they are deterministic
already, so ``deterministic = True`` holds whatever it is set to."""
import contextlib

enabled = True
benchmark = False
deterministic = False
allow_tf32 = False
benchmark_limit = 10


def is_available():
    return False


def version():
    return None


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True):
    yield
