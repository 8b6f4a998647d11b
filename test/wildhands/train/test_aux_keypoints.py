"""The training-only 2D keypoint head (``wildhands.train.aux_keypoints``) and its use by the trainer."""

import torch

from wildhands.train.aux_keypoints import KeypointHeatmapHead, keypoint_loss, keypoint_targets


def _batch(kp2d, center=(100.0, 50.0), size=64.0, valid=None):
    kp2d = torch.as_tensor(kp2d, dtype=torch.float32)[None]
    return {
        "kp2d": kp2d,
        "kp2d_valid": torch.ones(kp2d.shape[:2], dtype=torch.bool) if valid is None else valid,
        "box_center": torch.tensor([center]),
        "box_size": torch.tensor([size]),
    }


class _Fixed(torch.nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return self.value


def test_soft_argmax_of_a_peaked_map_is_that_cell_centre():
    head = KeypointHeatmapHead(in_channels=4, hidden=8, num_keypoints=2)
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.up.bias.fill_(1.0)  # constant hidden map (ReLU(1) = 1)
    # keypoint 0: a very high logit at cell (row 1, col 6) of the 8x8 map; keypoint 1: flat -> the centre
    logits = torch.zeros(1, 2, 8, 8)
    logits[0, 0, 1, 6] = 60.0
    head.out = _Fixed(logits)  # the 1x1 conv replaced by fixed logits
    xy = head(torch.zeros(1, 4, 4, 4))
    cell = 2.0 / 8
    assert torch.allclose(xy[0, 0], torch.tensor([-1 + cell * 6.5, -1 + cell * 1.5]), atol=1e-5)
    assert torch.allclose(xy[0, 1], torch.zeros(2), atol=1e-6)


def test_targets_are_crop_normalised_and_points_outside_the_crop_are_masked():
    # crop centre (100, 50), side 64: x 68..132, y 18..82
    batch = _batch([[100.0, 50.0], [132.0, 18.0], [140.0, 50.0]] + [[100.0, 50.0]] * 18)
    target, mask = keypoint_targets(batch)
    assert torch.allclose(target[0, 0], torch.zeros(2)) and torch.allclose(
        target[0, 1], torch.tensor([1.0, -1.0])
    )
    assert mask[0, :2].all() and not mask[0, 2]  # x = 140 is 1.25 half-crops right of the centre
    pred = target.clone()
    pred[0, 2] = 0.0  # the masked point's error does not count
    loss, available = keypoint_loss(pred, batch)
    assert float(loss) == 0.0 and float(available) == 1.0
    pred[0, 0] = torch.tensor([0.1, -0.2])
    loss, _ = keypoint_loss(pred, batch)
    assert abs(float(loss) - 0.3 / 20) < 1e-6  # L1 summed over x/y, averaged over the 20 usable points
    none = _batch([[0.0, 0.0]] * 21, valid=torch.zeros(1, 21, dtype=torch.bool))
    assert float(keypoint_loss(pred, none)[1]) == 0.0
