"""float64 gradient checks through every layer module, with respect to the input and to the
module's own parameters (gradcheck perturbs the parameters' memory in place, so passing them as
inputs checks their gradients too)."""
import pytest

import cnnkit as ck
import cnnkit.nn as nn
from cnnkit.testing import gradcheck

MODULES = [
    ("Conv2d", lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (1, 2, 5, 5)),
    ("Conv2d-groups-dilation", lambda: nn.Conv2d(4, 2, 2, dilation=2, groups=2, bias=False), (2, 4, 5, 4)),
    ("Linear", lambda: nn.Linear(4, 3), (2, 4)),
    ("MaxPool2d", lambda: nn.MaxPool2d(2, stride=1, padding=1), (1, 2, 3, 3)),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 1, 5, 4)),
    ("ReLU", lambda: nn.ReLU(), (3, 4)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), (3, 4)),
    ("Sigmoid", lambda: nn.Sigmoid(), (3, 4)),
    ("Tanh", lambda: nn.Tanh(), (3, 4)),
    ("Softmax", lambda: nn.Softmax(dim=1), (3, 4)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=0), (3, 4)),
    ("Flatten", lambda: nn.Flatten(), (2, 2, 3)),
    ("Identity", lambda: nn.Identity(), (2, 3)),
    ("Dropout-eval", lambda: nn.Dropout(0.5).eval(), (2, 3)),
    ("Sequential", lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                                         nn.Linear(8, 3)), (2, 1, 4, 4)),
]




@pytest.mark.parametrize("name,make,shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_gradcheck(name, make, shape):
    ck.manual_seed(3)
    m = make().double()
    x = ck.randn(*shape, dtype=ck.float64, requires_grad=True)
    params = tuple(m.parameters())
    assert all(p.dtype is ck.float64 for p in params)
    assert gradcheck(lambda x_, *ps: m(x_), (x, *params))


LOSSES = [
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(), lambda: ck.tensor([0, 2, 1])),
    ("CrossEntropyLoss-weight-smooth", lambda: nn.CrossEntropyLoss(weight=ck.tensor([1.0, 2.0, 0.5], dtype=ck.float64),
                                                                   label_smoothing=0.1, reduction="sum"),
     lambda: ck.tensor([0, 2, 1])),
    ("NLLLoss", lambda: nn.NLLLoss(reduction="none"), lambda: ck.tensor([1, 1, 0])),
    ("MSELoss", lambda: nn.MSELoss(), lambda: ck.randn(3, 3, dtype=ck.float64)),
]


@pytest.mark.parametrize("name,make,target", LOSSES, ids=[l[0] for l in LOSSES])
def test_loss_module_gradcheck(name, make, target):
    ck.manual_seed(4)
    x = ck.randn(3, 3, dtype=ck.float64, requires_grad=True)
    loss = make()
    t = target()
    assert gradcheck(lambda x_: loss(x_, t), (x,))
