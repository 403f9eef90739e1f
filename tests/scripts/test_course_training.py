"""Training labs as tutorials write them: the quickstart MLP, pytorch/examples' MNIST CNN (Adadelta +
StepLR + log_softmax/nll_loss), the CIFAR-10 blitz CNN (SGD momentum, torch.max(outputs, 1), per-class
accuracy, make_grid), saving/loading — on small synthetic data, asserting that the loss goes down."""
import copy

import numpy as np
import pytest

import cnnkit as torch
import cnnkit.nn as nn
import cnnkit.nn.functional as F
import cnnkit.optim as optim
import cnnkit.vision as torchvision
from cnnkit.optim.lr_scheduler import StepLR
from cnnkit.utils.data import DataLoader, TensorDataset


def _images(n, c, h, w, classes, seed=0):
    """Separable synthetic images: class k brightens row band k."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32) * 0.3
    band = max(1, h // classes)
    for i, k in enumerate(y):
        x[i, :, k * band:(k + 1) * band, :] += 1.5
    return TensorDataset(torch.tensor(x), torch.tensor(y))


def _epoch_loss(model, loader, loss_fn):
    model.eval()
    total, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for X, y in loader:
            pred = model(X)
            total += loss_fn(pred, y).item() * len(X)
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
            n += len(X)
    return total / n, correct / n


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                               nn.Linear(64, 10))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


def test_quickstart_mlp(tmp_path):
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    data = _images(256, 1, 28, 28, 10)
    train_dataloader = DataLoader(data, batch_size=64, shuffle=True)

    model = NeuralNetwork().to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=5e-2)
    before, _ = _epoch_loss(model, train_dataloader, loss_fn)
    for _ in range(3):
        model.train()
        for batch, (X, y) in enumerate(train_dataloader):
            X, y = X.to(device), y.to(device)
            loss = loss_fn(model(X), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    after, acc = _epoch_loss(model, train_dataloader, loss_fn)
    assert after < before and acc > 0.5
    torch.save(model.state_dict(), tmp_path / "model.pth")
    model2 = NeuralNetwork().to(device)
    model2.load_state_dict(torch.load(tmp_path / "model.pth", weights_only=True))
    torch.save(model, tmp_path / "whole.pth")
    model3 = torch.load(tmp_path / "whole.pth", weights_only=False)
    X = data[0][0].unsqueeze(0)
    model.eval(), model2.eval(), model3.eval()
    assert torch.equal(model(X), model2(X)) and torch.equal(model(X), model3(X))


class MnistNet(nn.Module):
    def __init__(self):
        super(MnistNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def test_pytorch_examples_mnist_loop():
    use_cuda = torch.cuda.is_available()
    use_mps = torch.backends.mps.is_available()
    torch.manual_seed(1)
    device = torch.device("cuda") if use_cuda else torch.device("mps") if use_mps else torch.device("cpu")
    train_kwargs = {"batch_size": 32}
    if use_cuda:
        train_kwargs.update({"num_workers": 1, "pin_memory": True, "shuffle": True})
    train_loader = torch.utils.data.DataLoader(_images(128, 1, 16, 16, 4), **train_kwargs)
    model = MnistNet().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    losses = []
    for epoch in range(1, 4):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for data, target in train_loader:
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        losses.append(test_loss / len(train_loader.dataset))
        scheduler.step()
    assert losses[-1] < losses[0]
    assert scheduler.get_last_lr() == pytest.approx([0.7 ** 3])


def test_cifar_blitz_loop():
    classes = ("plane", "car", "bird", "cat")
    trainloader = DataLoader(_images(128, 3, 32, 32, 4, seed=2), batch_size=16, shuffle=True)
    images, labels = next(iter(trainloader))
    grid = torchvision.utils.make_grid(images)
    assert grid.shape[0] == 3
    npimg = (grid / 2 + 0.5).numpy()
    assert np.transpose(npimg, (1, 2, 0)).shape[2] == 3

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 4)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    net = Net().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    epoch_losses = []
    for epoch in range(4):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data[0].to(device), data[1].to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        epoch_losses.append(running_loss)
    assert epoch_losses[-1] < epoch_losses[0]
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for images, labels in trainloader:
            outputs = net(images)
            _, predictions = torch.max(outputs, 1)
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    assert sum(total_pred.values()) == 128
    assert sum(correct_pred.values()) / 128 > 0.4


def test_transfer_learning_lab():
    """The fine-tuning tutorial's moves on a small input: frozen backbone, new head, StepLR, deepcopy of
    the best weights, set_grad_enabled per phase, torch.sum(preds == labels.data)."""
    torch.manual_seed(0)
    model_conv = torchvision.models.resnet18(weights=None)
    for param in model_conv.parameters():
        param.requires_grad = False
    num_ftrs = model_conv.fc.in_features
    model_conv.fc = nn.Linear(num_ftrs, 2)
    criterion = nn.CrossEntropyLoss()
    optimizer_conv = optim.SGD(model_conv.fc.parameters(), lr=0.01, momentum=0.9)
    exp_lr_scheduler = optim.lr_scheduler.StepLR(optimizer_conv, step_size=7, gamma=0.1)
    data = _images(16, 3, 32, 32, 2, seed=4)
    loader = DataLoader(data, batch_size=8, shuffle=True)
    best_model_wts = copy.deepcopy(model_conv.state_dict())
    best_acc = 0.0
    frozen = model_conv.conv1.weight.detach().clone()
    head = model_conv.fc.weight.detach().clone()
    for epoch in range(2):
        for phase in ["train", "val"]:
            model_conv.train() if phase == "train" else model_conv.eval()
            running_loss, running_corrects = 0.0, 0
            for inputs, labels in loader:
                optimizer_conv.zero_grad()
                with torch.set_grad_enabled(phase == "train"):
                    outputs = model_conv(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels)
                    if phase == "train":
                        loss.backward()
                        optimizer_conv.step()
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data)
            if phase == "train":
                exp_lr_scheduler.step()
            epoch_acc = running_corrects.double() / len(data)
            if phase == "val" and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model_conv.state_dict())
    model_conv.load_state_dict(best_model_wts)
    assert torch.equal(model_conv.conv1.weight, frozen)
    assert model_conv.conv1.weight.grad is None  # frozen: never given a gradient
    assert not torch.equal(model_conv.fc.weight, head)  # the new head was trained
    trainable = list(filter(lambda p: p.requires_grad, model_conv.parameters()))
    assert len(trainable) == 2
