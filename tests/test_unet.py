"""course_utils.unet: block arithmetic against F.conv2d, shapes, skips, and a tiny training run."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_utils.training import count_parameters
from course_utils.unet import (
    Down,
    UNet,
    UNetBlock,
    Up,
    mean_iou,
    predict_masks,
    soft_dice_loss,
    train_segmenter,
)


def test_unet_block_is_two_relu_convolutions():
    torch.manual_seed(0)
    block = UNetBlock(3, 5)
    x = torch.randn(2, 3, 9, 7)
    c1, c2 = block.conv1, block.conv2
    expected = F.relu(
        F.conv2d(F.relu(F.conv2d(x, c1.weight, c1.bias, padding=1)), c2.weight, c2.bias, padding=1)
    )
    torch.testing.assert_close(block(x), expected)
    assert count_parameters(block) == (9 * 3 * 5 + 5) + (9 * 5 * 5 + 5)


def test_unet_block_with_batch_norm_keeps_shape():
    block = UNetBlock(2, 4, batch_norm=True)
    assert block(torch.randn(3, 2, 6, 6)).shape == (3, 4, 6, 6)
    assert any(isinstance(m, nn.BatchNorm2d) for m in block.modules())


@pytest.mark.parametrize("mode", ["transpose", "bilinear"])
def test_down_and_up_steps_change_size_and_channels(mode):
    x = torch.randn(2, 8, 16, 12)
    down = Down(8, 16)(x)
    assert down.shape == (2, 16, 8, 6)
    up = Up(16, 8, 8, mode=mode)(down, x)
    assert up.shape == (2, 8, 16, 12)


@pytest.mark.parametrize("depth,size", [(1, 6), (2, 12), (3, 24)])
@pytest.mark.parametrize("mode", ["transpose", "bilinear"])
def test_unet_output_shape(depth, size, mode):
    net = UNet(in_channels=3, num_classes=2, base_channels=4, depth=depth, mode=mode)
    assert net(torch.randn(2, 3, size, 2 * size)).shape == (2, 2, size, 2 * size)


def test_unet_uses_its_skip_connections():
    """The output near a pixel must depend on the full-resolution features of the stem."""
    torch.manual_seed(0)
    net = UNet(base_channels=4, depth=2, batch_norm=False).eval()
    x = torch.randn(1, 1, 16, 16, requires_grad=True)
    net(x)[0, 0, 8, 8].backward()
    assert x.grad.abs().sum() > 0
    # Remove the deepest path's signal: the skip alone must still carry information.
    with torch.no_grad():
        for p in net.downs[0].parameters():
            p.zero_()
    assert net(torch.randn(1, 1, 16, 16)).std() > 0


def test_unet_refuses_sizes_it_cannot_halve():
    with pytest.raises(ValueError, match="divisible by 8"):
        UNet(depth=3)(torch.randn(1, 1, 20, 24))
    with pytest.raises(ValueError, match="mode"):
        Up(8, 4, 4, mode="nearest")
    with pytest.raises(ValueError, match="depth"):
        UNet(depth=0)


def test_losses_and_mean_iou():
    target = torch.zeros(2, 1, 4, 4)
    target[:, :, :2] = 1
    perfect = (target * 2 - 1) * 50
    assert float(soft_dice_loss(perfect, target)) == pytest.approx(0, abs=1e-6)
    pred = torch.zeros(2, 4, 4, dtype=torch.bool)
    pred[0, :2] = True
    pred[1, :1] = True
    assert mean_iou(pred, target[:, 0].bool()) == pytest.approx((1 + 0.5) / 2)
    assert mean_iou(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)) == 1.0


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread (and do not fight other jobs for the CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_train_segmenter_learns_a_bright_square(one_thread):
    """A few epochs on images whose mask is 'brighter than the background' reach a high IoU."""
    torch.manual_seed(0)
    masks = torch.zeros(64, 1, 16, 16)
    for i in range(64):
        r, c = torch.randint(0, 10, (2,))
        masks[i, 0, r : r + 6, c : c + 6] = 1
    images = masks + 0.2 * torch.randn_like(masks)
    loader = DataLoader(TensorDataset(images, masks), batch_size=16, shuffle=True)
    net = UNet(base_channels=4, depth=2)
    history = train_segmenter(
        net, loader, images[:16], masks[:16, 0] > 0, epochs=6, lr=0.02, device=torch.device("cpu")
    )
    assert set(history) == {"train_loss", "epoch_seconds", "val_iou"}
    assert history["train_loss"][-1] < history["train_loss"][0]
    predicted = predict_masks(net, images[:16], device=torch.device("cpu"))
    assert predicted.shape == (16, 16, 16) and predicted.dtype == torch.bool
    assert mean_iou(predicted, masks[:16, 0] > 0) > 0.8
