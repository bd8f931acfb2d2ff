"""On-the-fly distortions: each transform on known images, seeding, the config block,
and the training loop's use of them (training images only, labels untouched, exact resume)."""

import math

import pytest
import torch
import torch.nn.functional as F

from nnbook.config import Augment, load_config
from nnbook.data import augment
from nnbook.data.augment import Distortion, apply, distort, draw, gaussian_matrix, smooth
from nnbook.errors import ConfigError
from nnbook.nn.net import build_model
from nnbook.seeds import DISTORTIONS, generators, member_generators
from nnbook.training import loop as train_module
from nnbook.training.batches import distorted_epoch
from nnbook.training.devices import to_device
from nnbook.training.loop import StackSpec, train
from nnbook.training.monitor import accuracy
from nnbook.training.checkpoint import member_checkpoint, restore_progress

from .conftest import CONFIGS

SIDE = 28
ATOL = 1e-5


def image(rows, cols) -> torch.Tensor:
    """A (1, 784) image: ones on rows x cols (slices), zeros elsewhere."""
    x = torch.zeros(SIDE, SIDE)
    x[rows, cols] = 1.0
    return x.view(1, -1)


def as_square(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, SIDE, SIDE)


def one(**params) -> Distortion:
    return Distortion(**{k: torch.tensor([v], dtype=torch.float32) for k, v in params.items()})


def shifted(x: torch.Tensor, right: int, down: int) -> torch.Tensor:
    """expand_mnist.py's shift: content moves, vacated pixels become 0 (no wrap)."""
    out = torch.zeros_like(as_square(x))
    src = as_square(x)
    h, w = SIDE - abs(down), SIDE - abs(right)
    out[:, max(down, 0):max(down, 0) + h, max(right, 0):max(right, 0) + w] = \
        src[:, max(-down, 0):max(-down, 0) + h, max(-right, 0):max(-right, 0) + w]
    return out.view(len(x), -1)


def test_translation_by_whole_pixels_is_expand_mnists_shift(mnist):
    x = torch.from_numpy(mnist.training.x[:4])
    for right, down in [(1, 0), (0, 1), (-1, 0), (0, -1), (3, -2)]:
        d = Distortion(shift=torch.tensor([[right, down]] * 4, dtype=torch.float32))
        assert torch.allclose(apply(x, d), shifted(x, right, down), atol=ATOL), (right, down)


def test_a_half_pixel_shift_averages_neighbours():
    x = image(slice(10, 11), slice(10, 11))  # one bright pixel
    out = as_square(apply(x, one(shift=[0.5, 0.0])))[0]
    assert out[10, 10].item() == pytest.approx(0.5, abs=ATOL) and out[10, 11].item() == pytest.approx(0.5, abs=ATOL)
    assert out.sum().item() == pytest.approx(1.0, abs=ATOL)


def test_zero_parameters_and_zero_alpha_are_the_identity(mnist):
    x = torch.from_numpy(mnist.training.x[:50])
    d = Distortion(shift=torch.zeros(50, 2), angle=torch.zeros(50), scale=torch.ones(50, 2),
                   shear=torch.zeros(50), field=torch.zeros(50, 2, SIDE, SIDE))
    assert torch.allclose(apply(x, d), x, atol=ATOL)
    spec = Augment(translate=0, rotate=0, scale=0, shear=0, elastic={"alpha": 0, "sigma": 4})
    assert torch.allclose(distort(x, spec, torch.Generator().manual_seed(0)), x, atol=ATOL)


def test_rotation_of_centred_shapes():
    bar = image(slice(12, 16), slice(4, 24))  # 4 x 20, centred on the image centre
    upright = image(slice(4, 24), slice(12, 16))
    assert torch.allclose(apply(bar, one(angle=90.0)), upright, atol=ATOL)
    assert torch.allclose(apply(bar, one(angle=180.0)), bar, atol=ATOL)
    # counterclockwise as displayed: the right half of the bar goes up, then left
    right_half = image(slice(12, 16), slice(14, 24))
    assert torch.allclose(apply(right_half, one(angle=90.0)), image(slice(4, 14), slice(12, 16)), atol=ATOL)
    assert torch.allclose(apply(right_half, one(angle=180.0)), image(slice(12, 16), slice(4, 14)), atol=ATOL)


def test_rotation_by_180_degrees_flips_both_axes(mnist):
    x = torch.from_numpy(mnist.training.x[:3])
    flipped = as_square(x).flip(1, 2).reshape(3, -1)
    assert torch.allclose(apply(x, Distortion(angle=torch.full((3,), 180.0))), flipped, atol=ATOL)


def test_scaling_about_the_centre_with_bilinear_edges():
    square = image(slice(12, 16), slice(12, 16))  # 4 x 4, centred
    out = as_square(apply(square, one(scale=[2.0, 2.0])))[0]
    # Output pixel i reads input position 14 + (i + 0.5 - 14) / 2 (pixel centres at i + 0.5).
    profile = torch.tensor([0.0, 0.25, 0.75, 1, 1, 1, 1, 1, 1, 0.75, 0.25, 0.0])  # rows/cols 8..19
    assert torch.allclose(out[8:20, 8:20], profile.outer(profile), atol=ATOL)
    assert out.sum() == pytest.approx(16 * 4, rel=1e-4)  # area x 4
    wide = as_square(apply(square, one(scale=[2.0, 1.0])))[0]  # horizontal only
    assert torch.allclose(wide[12:16].sum(0), 4 * profile.new_zeros(SIDE).index_put_(
        (torch.arange(8, 20),), profile), atol=ATOL)
    assert wide[:12].abs().sum() < ATOL and wide[16:].abs().sum() < ATOL


def test_shear_moves_each_row_by_tan_angle_times_its_height(mnist):
    x = torch.from_numpy(mnist.training.x[:1])
    angle = 10.0
    out = as_square(apply(x, one(shear=angle)))[0]
    src = as_square(x)[0]
    cols = torch.arange(SIDE, dtype=torch.float32)
    for row in range(SIDE):
        if src[row].sum() < 1:  # rows with ink; a shift of < 3 px keeps it inside
            continue
        assert out[row].sum() == pytest.approx(src[row].sum().item(), rel=1e-4)  # ink stays in its row
        centroid = (out[row] * cols).sum() / out[row].sum()
        before = (src[row] * cols).sum() / src[row].sum()
        height = row + 0.5 - SIDE / 2  # below the centre is positive: lower rows move right
        assert centroid - before == pytest.approx(math.tan(math.radians(angle)) * height, abs=1e-3)


def test_a_constant_elastic_field_is_a_translation(mnist):
    x = torch.from_numpy(mnist.training.x[:2])
    field = torch.zeros(2, 2, SIDE, SIDE)
    field[:, 0] = -1.0  # every pixel reads one pixel to its left: the content moves right
    field[:, 1] = 2.0  # and reads two pixels below: the content moves up
    assert torch.allclose(apply(x, Distortion(field=field)), shifted(x, 1, -2), atol=ATOL)


def test_smoothing_is_a_separable_gaussian_convolution_with_zero_padding():
    noise = torch.rand(3, 2, SIDE, SIDE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for sigma in (0.8, 4.0):
        r = math.ceil(4 * sigma)
        taps = torch.arange(-r, r + 1, dtype=torch.float32)
        k = torch.exp(-0.5 * (taps / sigma) ** 2)
        k = k / k.sum()
        flat = noise.reshape(-1, 1, SIDE, SIDE)
        ref = F.conv2d(F.conv2d(flat, k.view(1, 1, 1, -1), padding=(0, r)), k.view(1, 1, -1, 1), padding=(r, 0))
        assert torch.allclose(smooth(noise, sigma), ref.view_as(noise), atol=1e-6)
    g = gaussian_matrix(2.0)  # 8 taps each side
    assert torch.allclose(g, g.T) and g[14].sum() == pytest.approx(1.0)  # far from the edges: all taps inside
    assert g[0].sum() < 0.6  # at the edge, the taps outside meet zeros
    delta = torch.zeros(1, 1, SIDE, SIDE)
    delta[0, 0, 14, 14] = 1.0
    blob = smooth(delta, 2.0)[0, 0]
    offsets = torch.arange(SIDE, dtype=torch.float32) - 14
    variance = (blob.sum(0) * offsets**2).sum()
    assert variance == pytest.approx(4.0, rel=1e-3)  # sigma^2


def test_the_elastic_field_scales_with_alpha_and_is_smooth():
    def field(alpha, sigma=4.0):
        return draw(Augment(elastic={"alpha": alpha, "sigma": sigma}), 200, torch.Generator().manual_seed(5)).field

    assert torch.allclose(field(68.0), 2 * field(34.0), atol=1e-5)
    f = field(34.0)
    assert f.shape == (200, 2, SIDE, SIDE)
    # smoothing averages U(-1, 1) noise: neighbours are strongly correlated, unlike raw noise
    a, b = f[..., :, :-1].flatten(), f[..., :, 1:].flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.9
    wider = field(34.0, sigma=8.0)
    assert wider.std() < f.std()  # a wider Gaussian averages more noise away


def test_drawn_parameters_stay_within_their_bounds():
    spec = Augment(translate=2, rotate=15, scale=0.1, shear=5)
    d = draw(spec, 20_000, torch.Generator().manual_seed(1))
    for values, low, high in [(d.shift, -2, 2), (d.angle, -15, 15), (d.scale, 0.9, 1.1), (d.shear, -5, 5)]:
        assert values.min() >= low and values.max() <= high
        assert values.min() < low + 0.01 * (high - low) and values.max() > high - 0.01 * (high - low)
    off = draw(Augment(rotate=15), 10, torch.Generator().manual_seed(1))
    assert off.shift is None and off.scale is None and off.shear is None and off.field is None


def test_the_same_seed_gives_the_same_images_and_another_seed_others(mnist):
    x = torch.from_numpy(mnist.training.x[:300])
    spec = Augment(translate=2, rotate=10, scale=0.1, shear=10, elastic={"alpha": 34, "sigma": 4})
    (g0,), (g0_again,), (g1,) = (generators(DISTORTIONS, [s]) for s in (0, 0, 1))
    first = distort(x, spec, g0, chunk=128)  # several chunks
    assert torch.equal(first, distort(x, spec, g0_again, chunk=128))
    assert not torch.allclose(first, distort(x, spec, g1, chunk=128))
    second_epoch = distort(x, spec, g0, chunk=128)  # the generator moved on: fresh distortions
    assert not torch.allclose(first, second_epoch)
    assert first.shape == x.shape and first.min() >= 0 and first.max() <= 1 + 1e-6


# ----------------------------------------------------------------------------- config


BASE = """
layers:
  - {type: fc, units: 30}
  - {type: softmax}
epochs: 1
eta: 0.1
"""


@pytest.mark.parametrize("block, words", [
    ("augment: {rotat: 10}", ["unknown key 'augment.rotat'", "did you mean 'rotate'", "translate, rotate"]),
    ("augment: {rotate: -5}", ["augment.rotate = -5", "greater than or equal to 0"]),
    ("augment: {scale: 1.5}", ["augment.scale = 1.5", "less than 1"]),
    ("augment: {elastic: {alpha: 34}}", ["missing required key 'augment.elastic.sigma'"]),
    ("augment: {elastic: {alpha: 34, sigma: 4, sgima: 1}}", ["augment.elastic.sgima", "alpha, sigma"]),
    ("augment: {elastic: {alpha: 34, sigma: 0}}", ["augment.elastic.sigma = 0", "greater than 0"]),
])
def test_augment_mistakes_get_one_line(tmp_path, block, words):
    path = tmp_path / "exp.yaml"
    path.write_text(BASE + block + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(path)) and e.value.exit_code == 2
    for w in words:
        assert w in message, message


def test_augment_block_defaults_and_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(BASE)
    assert load_config(path).augment is None
    c = load_config(path, ["augment.rotate=10", "augment.elastic={alpha: 34, sigma: 4}"])
    assert c.augment.rotate == 10 and c.augment.elastic.sigma == 4 and c.augment.translate is None
    assert c.augment.enabled()
    assert not load_config(path, ["augment={}"]).augment.enabled()


# ----------------------------------------------------------------------------- the training loop


def small_data(mnist, c):
    """The config's training slice, and 1,000 validation and test images (evaluation
    dominates these tiny runs otherwise)."""
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    for name in ("validation_x", "validation_y", "test_x", "test_y"):
        setattr(data, name, getattr(data, name)[:1000])
    return data


def small_config(*overrides):
    return load_config(CONFIGS / "ch6_shallow.yaml", ["train_limit=200", "epochs=2", "eta=0.5",
                                                      "mini_batch_size=20", *overrides])


def test_only_training_images_are_distorted_and_labels_are_untouched(mnist, monkeypatch):
    c = small_config("augment={rotate: 15, elastic: {alpha: 34, sigma: 4}}")
    data = small_data(mnist, c)
    clean = {name: getattr(data, name).clone() for name in vars(data)}
    calls = []
    real = augment.distort

    def spy(x, spec, gen, chunk=augment.CHUNK):
        calls.append(x)
        return real(x, spec, gen, chunk)

    monkeypatch.setattr(augment, "distort", spy)
    epochs = []
    real_batches = train_module.mini_batches

    def batches_spy(net, epoch, batch, n_batches, mask_gens):
        epochs.append(tuple(epoch))  # (x, targets, order)
        return real_batches(net, epoch, batch, n_batches, mask_gens)

    monkeypatch.setattr(train_module, "mini_batches", batches_spy)
    net = build_model(c, [0, 1])
    reports = []
    train(net, StackSpec(c, [0, 1]), data, reports.append)
    assert len(calls) == 2 * 2  # once per member per epoch
    n = len(data.train_y)
    for x, targets, order in epochs:  # what the mini-batch loop reads: labels unchanged, per member
        assert x.shape == (2 * n, 784) and not torch.equal(x[:n], data.train_x)
        assert torch.equal(targets[order].argmax(-1), data.train_y.expand(2, n))
    assert all(x is data.train_x for x in calls)  # never validation or test images
    for name, tensor in clean.items():  # and nothing was distorted in place
        assert torch.equal(getattr(data, name), tensor), name
    # the last epoch's validation accuracy is the trained net's on the clean images
    assert [r.validation_accuracy for r in reports[-1].records] == accuracy(net, data.validation_x,
                                                                             data.validation_y)

    gens = generators(DISTORTIONS, [0, 1])
    x, order = distorted_epoch(data, c, gens, None)
    n = len(data.train_y)
    assert x.shape == (2 * n, 784)
    assert torch.equal(order, torch.stack([torch.arange(n), torch.arange(n) + n]))
    assert not torch.allclose(x[:n], x[n:])  # members get different distortions
    # the loop's labels for the stacked copies: the training labels, repeated per member
    labels = data.train_y.repeat(2)
    assert torch.equal(labels[order], data.train_y.expand(2, n))
    shuffled = torch.stack([torch.randperm(n), torch.randperm(n)])
    _, order = distorted_epoch(data, c, gens, shuffled)
    assert torch.equal(labels[order], data.train_y[shuffled])
    assert torch.equal(order - shuffled, torch.tensor([[0], [n]]).expand(2, n))


def test_a_member_distorts_as_its_single_run_would(mnist):
    c = small_config("augment={translate: 2, shear: 10}")
    data = small_data(mnist, c)
    pair, single = build_model(c, [0, 1]), build_model(c, [1])
    train(pair, StackSpec(c, [0, 1]), data, lambda r: None)
    train(single, StackSpec(c, [1]), data, lambda r: None)
    for name, p in single.named_parameters():
        assert torch.allclose(dict(pair.named_parameters())[name][1], p[0], atol=1e-5), name


def test_resume_continues_the_distortions_exactly(mnist):
    c = small_config("augment={rotate: 10, elastic: {alpha: 34, sigma: 4}}", "epochs=3")
    data = small_data(mnist, c)
    whole = build_model(c, [0])
    train(whole, StackSpec(c, [0]), data, lambda r: None)

    saved = []
    first = build_model(c, [0])
    train(first, StackSpec(c.model_copy(update={"epochs": 1}), [0]), data, lambda r: saved.append(r.checkpoint(0)))
    assert saved[-1]["augment_generator"] is not None
    resumed = build_model(c, [0])
    progress = restore_progress(resumed, saved[-1:])
    train(resumed, StackSpec(c, [0], progress=progress), data, lambda r: None)
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), name

    plain = build_model(c, [0])
    snapshot = member_checkpoint(plain, progress, 0, member_generators([0], torch.device("cpu")))
    assert snapshot["augment_generator"] is None  # a run without distortions saves none


def test_augment_preview_writes_an_image_and_refuses_a_config_without_distortions(tmp_path, cli, mnist_slice):
    out = tmp_path / "grid.png"
    result = cli("augment-preview", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}",
                 "--set", "augment={rotate: 20}", "--images", "3", "--samples", "4", "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "wrote" in result.stdout
    import matplotlib.image

    h, w, _ = matplotlib.image.imread(out).shape
    assert w > h  # 5 columns of 3 rows

    missing = cli("augment-preview", CONFIGS / "ch6_shallow.yaml", "--out", tmp_path / "x.png")
    assert missing.returncode == 2 and "augment block" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr
