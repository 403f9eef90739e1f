"""The tensors / autograd tutorials: creation, attributes, indexing, joining, arithmetic with out=,
in-place ops, NumPy bridges, autograd with gradient arguments, retain_graph and no_grad."""
import numpy as np

import cnnkit as torch
import cnnkit.nn.functional as F


def test_tensor_tutorial_surface():
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)
    assert torch.equal(x_data, x_np)
    x_ones = torch.ones_like(x_data)
    x_rand = torch.rand_like(x_data, dtype=torch.float)
    assert x_ones.dtype == torch.int64 and x_rand.dtype == torch.float32
    shape = (2, 3,)
    rand_tensor, ones_tensor, zeros_tensor = torch.rand(shape), torch.ones(shape), torch.zeros(shape)
    assert rand_tensor.shape == ones_tensor.shape == zeros_tensor.shape == torch.Size([2, 3])
    tensor = torch.rand(3, 4)
    assert tensor.dtype == torch.float32 and str(tensor.device) == "cpu"
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    tensor = tensor.to(device)
    tensor = torch.ones(4, 4)
    assert tensor[0].tolist() == [1.0] * 4 and tensor[:, 0].shape == (4,) and tensor[..., -1].shape == (4,)
    tensor[:, 1] = 0
    t1 = torch.cat([tensor, tensor, tensor], dim=1)
    assert t1.shape == (4, 12)
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.rand_like(y1)
    torch.matmul(tensor, tensor.T, out=y3)
    assert torch.equal(y1, y2) and torch.equal(y1, y3)
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    z3 = torch.rand_like(tensor)
    torch.mul(tensor, tensor, out=z3)
    assert torch.equal(z1, z2) and torch.equal(z1, z3)
    agg = tensor.sum()
    agg_item = agg.item()
    assert isinstance(agg_item, float) and agg_item == 12.0
    tensor.add_(5)
    assert tensor[0, 0].item() == 6.0
    t = torch.ones(5)
    n = t.numpy()
    t.add_(1)
    assert n.tolist() == [2.0] * 5  # shares memory
    n = np.ones(5)
    t = torch.from_numpy(n)
    np.add(n, 1, out=n)
    assert t.tolist() == [2.0] * 5


def test_autograd_tutorial_surface():
    x = torch.ones(5)
    y = torch.zeros(3)
    w = torch.randn(5, 3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    assert z.grad_fn is not None and loss.grad_fn is not None
    loss.backward()
    sig = 1 / (1 + np.exp(-z.detach().numpy()))
    np.testing.assert_allclose(b.grad.numpy(), sig / 3, rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), np.outer(np.ones(5), sig / 3), rtol=1e-5)
    with torch.no_grad():
        z = torch.matmul(x, w) + b
    assert not z.requires_grad
    z_det = (torch.matmul(x, w) + b).detach()
    assert not z_det.requires_grad
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    out.backward(torch.ones_like(out), retain_graph=True)
    first = inp.grad.clone()
    out.backward(torch.ones_like(out), retain_graph=True)
    assert torch.allclose(inp.grad, 2 * first)
    inp.grad.zero_()
    out.backward(torch.ones_like(out), retain_graph=True)
    assert torch.allclose(inp.grad, first)
    np.testing.assert_allclose(first.numpy(), 2 * (np.eye(4, 5) + 1))


def test_tensor_ops_labs_use():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert x.argmax(axis=1).tolist() == [3, 3, 3] and x.argmax(dim=0, keepdim=True).shape == (1, 4)
    assert x.sum(axis=0, keepdims=True).shape == (1, 4)
    vals, idx = torch.topk(x, 2, dim=1)
    assert idx.tolist() == [[3, 2]] * 3
    assert torch.sort(torch.tensor([3.0, 1.0, 2.0]), descending=True).values.tolist() == [3.0, 2.0, 1.0]
    assert torch.flip(x, dims=[1])[0].tolist() == [3.0, 2.0, 1.0, 0.0]
    assert torch.roll(torch.arange(4), 1).tolist() == [3, 0, 1, 2]
    assert torch.cumsum(torch.arange(4), dim=0).tolist() == [0, 1, 3, 6]
    assert torch.tril(torch.ones(3, 3)).sum().item() == 6
    gx, gy = torch.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")
    assert gx.shape == (2, 3) and gy[1].tolist() == [0, 1, 2]
    assert torch.einsum("ij,jk->ik", x, x.T).shape == (3, 3)
    assert torch.einsum("ii->", torch.eye(3)).item() == 3
    s = torch.zeros(2, 3).scatter_(1, torch.tensor([[0], [2]]), value=1.0)
    assert s.tolist() == [[1, 0, 0], [0, 0, 1]]
    assert torch.sinh(torch.tensor([0.0])).item() == 0.0 and torch.cosh(torch.tensor([0.0])).item() == 1.0
    assert torch.tensor([1, 2], dtype=torch.int32).dtype == torch.int32
    a, b = torch.randn(4, 6).split(3, dim=1)
    assert a.shape == (4, 3)
    assert x.var(dim=1, correction=0).shape == (3,) and x.std().item() > 0
    assert torch.clamp(x, min=torch.tensor(2.0), max=torch.full((4,), 5.0)).max().item() == 5.0
    assert F.one_hot(torch.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
