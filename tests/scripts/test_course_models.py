"""d2l-style CNN chapters: convolution and pooling from scratch checked against the library's layers,
LeNet/AlexNet/VGG/NiN/ResNet built from lazy layers with a layer-by-layer shape walk, batch norm from
scratch, an autoencoder with ConvTranspose2d, a regression with L1Loss and Adam."""
import numpy as np

import cnnkit as torch
import cnnkit.nn as nn
import cnnkit.nn.functional as F
import cnnkit.optim as optim


def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def corr2d_multi_in(X, K):
    return sum(corr2d(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X, K):
    return torch.stack([corr2d_multi_in(X, k) for k in K], 0)


def pool2d(X, pool_size, mode="max"):
    p_h, p_w = pool_size
    Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = X[i: i + p_h, j: j + p_w].max() if mode == "max" else X[i: i + p_h, j: j + p_w].mean()
    return Y


def test_from_scratch_conv_and_pool_match_layers():
    X = torch.randn(3, 7, 6)
    K = torch.randn(2, 3, 3, 2)
    ours = corr2d_multi_in_out(X, K)
    ref = F.conv2d(X.unsqueeze(0), K)[0]
    assert torch.allclose(ours, ref, atol=1e-5)
    X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
    assert torch.equal(pool2d(X[0, 0], (2, 2)), nn.MaxPool2d(2, stride=1)(X)[0, 0])
    assert torch.allclose(pool2d(X[0, 0], (2, 2), "avg"), nn.AvgPool2d(2, stride=1)(X)[0, 0])
    X = torch.cat((X, X + 1), 1)
    pool = nn.MaxPool2d(3, padding=1, stride=2)
    assert pool(X).shape == (1, 2, 2, 2)


def init_cnn(module):
    if type(module) == nn.Linear or type(module) == nn.Conv2d:
        nn.init.xavier_uniform_(module.weight)


def layer_summary(net, X_shape):
    X = torch.randn(*X_shape)
    shapes = []
    for layer in net:
        X = layer(X)
        shapes.append((layer.__class__.__name__, tuple(X.shape)))
    return shapes


def test_lazy_lenet_alexnet_vgg_nin_shapes():
    lenet = nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.LazyLinear(120), nn.Sigmoid(), nn.LazyLinear(84), nn.Sigmoid(), nn.LazyLinear(10))
    shapes = layer_summary(lenet, (1, 1, 28, 28))
    assert shapes[2] == ("AvgPool2d", (1, 6, 14, 14)) and shapes[-1] == ("Linear", (1, 10))
    lenet.apply(init_cnn)
    alex = nn.Sequential(
        nn.LazyConv2d(16, kernel_size=11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.LazyConv2d(32, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(), nn.LazyLinear(64), nn.ReLU(), nn.Dropout(p=0.5), nn.LazyLinear(10))
    assert layer_summary(alex, (1, 1, 96, 96))[-1] == ("Linear", (1, 10))

    def vgg_block(num_convs, out_channels):
        layers = []
        for _ in range(num_convs):
            layers.append(nn.LazyConv2d(out_channels, kernel_size=3, padding=1))
            layers.append(nn.ReLU())
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        return nn.Sequential(*layers)

    vgg = nn.Sequential(vgg_block(1, 8), vgg_block(2, 16), nn.Flatten(), nn.LazyLinear(10))
    assert layer_summary(vgg, (2, 1, 16, 16))[1] == ("Sequential", (2, 16, 4, 4))

    def nin_block(out_channels, kernel_size, strides, padding):
        return nn.Sequential(nn.LazyConv2d(out_channels, kernel_size, strides, padding), nn.ReLU(),
                             nn.LazyConv2d(out_channels, kernel_size=1), nn.ReLU())

    nin = nn.Sequential(nin_block(8, 5, 2, 2), nn.MaxPool2d(3, stride=2), nin_block(10, 3, 1, 1),
                        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    assert layer_summary(nin, (1, 3, 32, 32))[-1] == ("Flatten", (1, 10))


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        mean = X.mean(dim=(0, 2, 3), keepdim=True)
        var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    return gamma * X_hat + beta, moving_mean.data, moving_var.data


def test_batch_norm_from_scratch_matches_layer():
    X = torch.randn(4, 3, 5, 5, requires_grad=True)
    shape = (1, 3, 1, 1)
    gamma, beta = nn.Parameter(torch.ones(shape)), nn.Parameter(torch.zeros(shape))
    Y, mm, mv = batch_norm(X, gamma, beta, torch.zeros(shape), torch.ones(shape), 1e-5, 0.1)
    bn = nn.BatchNorm2d(3)
    assert torch.allclose(Y, bn(X), atol=1e-5)
    assert torch.allclose(mm.reshape(-1), bn.running_mean, atol=1e-6)


class Residual(nn.Module):
    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.LazyBatchNorm2d()
        self.bn2 = nn.LazyBatchNorm2d()

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def test_d2l_residual_and_densenet_cat_train():
    torch.manual_seed(0)
    net = nn.Sequential(nn.LazyConv2d(8, kernel_size=3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(),
                        Residual(8), Residual(16, use_1x1conv=True, strides=2),
                        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(2))
    X = torch.randn(8, 3, 8, 8)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    net(X)
    opt = optim.SGD(net.parameters(), lr=0.1)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    b = torch.cat((torch.ones(1, 2, 3, 3), torch.zeros(1, 3, 3, 3)), dim=1)
    assert b.shape == (1, 5, 3, 3)


def test_conv_autoencoder_with_conv_transpose():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
                            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
    decoder = nn.Sequential(nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                            nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())
    model = nn.Sequential(encoder, decoder)
    X = torch.rand(16, 1, 8, 8)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    criterion = nn.MSELoss()
    first = None
    for _ in range(30):
        out = model(X)
        assert out.shape == X.shape
        loss = criterion(out, X)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
    assert nn.BCELoss()(model(X).detach(), X).item() > 0


def test_regression_lab_l1_adamw_scheduler():
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    true_w = torch.tensor([[1.5], [-2.0], [0.5]])
    y = X @ true_w + 0.3
    model = nn.Sequential(nn.Linear(3, 16), nn.GELU(), nn.Dropout(0.1), nn.Linear(16, 1))
    optimizer = optim.AdamW(model.parameters(), lr=3e-2)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=50)
    loss_fn = nn.L1Loss()
    losses = []
    for _ in range(50):
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
