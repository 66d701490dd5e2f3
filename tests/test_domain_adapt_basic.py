"""Training-free adapters, `adapt apply`, the no-copy check and label alignment, on hand-made sets.

The sets are drawn here (coloured squares on a background, with their exact instance masks), so
every expectation is known without rendering: adapters keep size and labels, FDA with beta 0 is the
identity, a planted real photo is flagged as a copy, and blurring outlines lowers the alignment.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from scenesmith.annotate.writer_lock import WRITER_LOCK
from scenesmith.cli import main
from scenesmith.domain_adapt import adapter as adapter_module
from scenesmith.domain_adapt.adapter import FitInputs, fitter
from scenesmith.domain_adapt.alignment import edge_agreement, label_alignment, outline_contrast
from scenesmith.domain_adapt.apply import apply_adapter
from scenesmith.domain_adapt.fda import swap_low_frequencies
from scenesmith.domain_adapt.gap_data import load_image_set
from scenesmith.domain_adapt.images import image_paths, read_rgb, real_training_paths
from scenesmith.domain_adapt.nocopy import check_no_copies
from scenesmith.domain_adapt.sensor_fit import add_noise, added_noise, ca_shift, jpeg_quality, noise_levels
from scenesmith.errors import UserError
from scenesmith.file_lock import try_lock
from scenesmith.procedural.description import SensorEffects
from scenesmith.render.sensor import apply_sensor

SIZE = 64


def scene(rng: np.random.Generator, background: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image of 2–3 squares on a noisy background, and its uint16 instance mask."""
    image = np.clip(np.array(background) + rng.normal(0, 6, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    instance = np.zeros((SIZE, SIZE), np.uint16)
    for k in range(1, rng.integers(2, 4) + 1):
        x, y = rng.integers(2, SIZE - 18, size=2)
        image[y : y + 14, x : x + 14] = rng.integers(0, 256, 3)
        instance[y : y + 14, x : x + 14] = k
    return image, instance


def write_synthetic(root: Path, count: int = 6, seed: int = 0) -> Path:
    """A minimal scenesmith dataset folder: images, instance masks, meta, COCO and manifest."""
    rng = np.random.default_rng(seed)
    for sub in ("images", "masks", "meta"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for k in range(count):
        image, instance = scene(rng, (90, 120, 160))
        files = {"image": f"images/{k:06d}.png", "instance": f"masks/{k:06d}_instance.png"}
        cv2.imwrite(str(root / files["image"]), image[..., ::-1])
        cv2.imwrite(str(root / files["instance"]), instance)
        meta = {"image_id": k + 1, "files": files, "width": SIZE, "height": SIZE, "annotations": [],
                "seed": seed, "scene": {"name": "squares", "categories": [{"id": 1, "name": "square"}]},
                }  # fmt: skip
        (root / "meta" / f"{k:06d}.json").write_text(json.dumps(meta))
    images = [
        {"id": k + 1, "file_name": f"images/{k:06d}.png", "width": SIZE, "height": SIZE} for k in range(count)
    ]
    coco = {"images": images, "annotations": [], "categories": [{"id": 1, "name": "square"}]}
    (root / "annotations.json").write_text(json.dumps(coco))
    (root / "manifest.json").write_text(json.dumps({"scene": "squares"}))
    return root


def write_real(root: Path, count: int = 8, seed: int = 1) -> Path:
    """A COCO file of JPEG 'photos' (warmer, noisier, blurrier), half train and half test."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    images = []
    for k in range(count):
        image, _ = scene(rng, (150, 120, 90))
        image = cv2.GaussianBlur(image, (0, 0), 1.2)
        cv2.imwrite(str(root / "images" / f"{k}.jpg"), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
        images.append({"id": k + 1, "file_name": f"{k}.jpg", "width": SIZE, "height": SIZE,
                       "split": "train" if k % 2 == 0 else "test"})  # fmt: skip
    coco = {"images": images, "annotations": [], "categories": [{"id": 1, "name": "square"}]}
    (root / "annotations.json").write_text(json.dumps(coco))
    return root / "annotations.json"


@pytest.fixture()
def sets(tmp_path: Path) -> tuple[Path, Path]:
    return write_synthetic(tmp_path / "synthetic"), write_real(tmp_path / "real")


def fitted(method: str, sets: tuple[Path, Path], tmp_path: Path, **options):
    synthetic, real = sets
    inputs = FitInputs(tuple(image_paths(synthetic)), tuple(image_paths(real, "train")), 0, options)
    return fitter(method)(inputs, tmp_path / f"{method}.partial")


def test_fda_with_beta_zero_is_the_identity() -> None:
    image, _ = scene(np.random.default_rng(3), (10, 200, 40))
    block = np.zeros((9, 9, 3), np.float32)
    assert np.array_equal(swap_low_frequencies(image, block, 0.0), image)
    assert not np.array_equal(swap_low_frequencies(image, block, 0.05), image)


def test_fda_moves_the_mean_colour_to_the_real_one(sets, tmp_path: Path) -> None:
    adapter = fitted("fda", sets, tmp_path, beta=0.05)
    image = read_rgb(image_paths(sets[0])[0])
    adapted = adapter.apply(image, np.random.default_rng(0))
    real_mean = np.mean([read_rgb(p).mean(axis=(0, 1)) for p in image_paths(sets[1], "train")], axis=0)
    assert (
        np.abs(adapted.mean(axis=(0, 1)) - real_mean).sum()
        < np.abs(image.mean(axis=(0, 1)) - real_mean).sum()
    )


@pytest.mark.parametrize("method", ["fda", "histogram", "sensor"])
def test_adapters_keep_shape_dtype_and_survive_save_and_load(method: str, sets, tmp_path: Path) -> None:
    from scenesmith.domain_adapt.apply import load_adapter

    adapter = fitted(method, sets, tmp_path)
    adapter.save(tmp_path / method)
    loaded, record = load_adapter(tmp_path / method)
    assert record["method"] == method
    odd = read_rgb(image_paths(sets[0])[0])[:53, :61]
    for one in (adapter, loaded):
        out = one.apply(odd, np.random.default_rng(1))
        assert out.shape == odd.shape and out.dtype == np.uint8
    assert np.array_equal(
        adapter.apply(odd, np.random.default_rng(1)), loaded.apply(odd, np.random.default_rng(1))
    )


def test_sensor_fit_measures_what_the_renders_lack(sets, tmp_path: Path) -> None:
    adapter = fitted("sensor", sets, tmp_path)
    assert adapter.blur_sigma_px > 0.3  # the 'photos' were blurred with σ 1.2
    assert adapter.jpeg_quality is not None and 70 <= adapter.jpeg_quality <= 90  # written at 80


def test_sensor_measures_photos_at_the_renders_scale(sets, tmp_path: Path) -> None:
    """The same photos at 4× the renders' size ask for the blur they need at the renders' size: measured
    in their own pixels they asked for about 4× the σ (the top of the search grid)."""
    synthetic, real = sets
    large = tmp_path / "large"
    large.mkdir()
    for path in image_paths(real, "train"):
        photo = cv2.imread(str(path))
        cv2.imwrite(
            str(large / path.name), cv2.resize(photo, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
        )
    synthetic_paths = tuple(image_paths(synthetic))
    native = fitter("sensor")(FitInputs(synthetic_paths, tuple(image_paths(real, "train"))), tmp_path / "a")
    enlarged = fitter("sensor")(FitInputs(synthetic_paths, tuple(image_paths(large, "none"))), tmp_path / "b")
    assert enlarged.blur_sigma_px == pytest.approx(native.blur_sigma_px, abs=0.5)
    assert enlarged.measured["real_rescaled_by"] == pytest.approx(0.25)


def test_sensor_measures_a_planted_chromatic_aberration() -> None:
    image, _ = scene(np.random.default_rng(5), (128, 128, 128))
    image = cv2.resize(image, (128, 128), interpolation=cv2.INTER_NEAREST)
    shifted = apply_sensor(image, SensorEffects(chromatic_aberration_px=1.0), np.random.default_rng(0))
    assert ca_shift(image) == 0.0
    assert ca_shift(shifted) == pytest.approx(1.0, abs=0.25)
    no_blue = image.copy()
    no_blue[..., 2] = 0  # nothing to align: no shift is measured (argmax of NaN scores said −2 px)
    assert ca_shift(no_blue) is None and ca_shift(np.full_like(image, 128)) is None


@pytest.mark.parametrize("quality", [5, 10, 20, 30, 50, 66, 80, 95, 100])
def test_jpeg_quality_is_read_exactly_where_the_tables_clip(tmp_path: Path, quality: int) -> None:
    image = (np.random.default_rng(quality).random((32, 32, 3)) * 255).astype(np.uint8)
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert jpeg_quality(path) == quality


def test_sensor_fits_the_poisson_gaussian_noise_the_renders_lack() -> None:
    """Flat stripes at 8 levels, clean vs noisy with variance a·I + b: the fit recovers (a, b)."""
    rng = np.random.default_rng(2)
    levels = np.repeat(np.linspace(0.06, 0.94, 8), 64)[None, :].repeat(128, axis=0)
    a, b = 4e-3, 2e-4
    sigma = np.sqrt(a * levels + b)
    noisy = [
        np.clip(np.rint((levels + rng.normal(0, 1, levels.shape) * sigma) * 255), 0, 255) for _ in range(3)
    ]
    clean = [np.rint(levels * 255)] * 3
    fitted_a, fitted_b = added_noise(noise_levels(noisy), noise_levels(clean))
    assert fitted_a == pytest.approx(a, rel=0.25) and fitted_b == pytest.approx(b, abs=3e-4)
    assert added_noise(noise_levels(clean), noise_levels(noisy)) == (0.0, 0.0)  # nothing to add


def test_sensor_noise_survives_its_own_jpeg_and_matches_the_photos_after_it(tmp_path: Path) -> None:
    """The photos' noise is measured after their JPEG, and apply compresses after adding noise: fitted
    before that JPEG, the added σ (0.7 levels on the dice photos) came out of quality 66 as 0.01."""
    rng = np.random.default_rng(3)
    levels = np.repeat(np.linspace(0.06, 0.94, 8), 64)[None, :].repeat(256, axis=0)
    (tmp_path / "real").mkdir()
    (tmp_path / "renders").mkdir()
    for k in range(3):
        noisy = np.clip(np.rint((levels + rng.normal(0, 4 / 255, levels.shape)) * 255), 0, 255)
        photo = np.repeat(noisy[..., None], 3, axis=2).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "real" / f"{k}.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 66])
        cv2.imwrite(str(tmp_path / "renders" / f"{k}.png"), np.repeat(np.rint(levels * 255)[..., None], 3, 2))
    real, renders = sorted((tmp_path / "real").iterdir()), sorted((tmp_path / "renders").iterdir())
    adapter = fitter("sensor")(FitInputs(tuple(renders), tuple(real)), tmp_path / "sensor")
    assert adapter.jpeg_quality == 66

    def sigma(images: list[np.ndarray]) -> dict[int, float]:
        grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in images]
        return {level: 255 * np.sqrt(variance) for level, variance in noise_levels(grey).items()}

    photos = sigma([read_rgb(path) for path in real])
    adapted = sigma(
        [adapter.apply(read_rgb(path), np.random.default_rng(k)) for k, path in enumerate(renders)]
    )
    shared = sorted(set(photos) & set(adapted))
    assert len(shared) >= 6 and min(photos[level] for level in shared) > 0.3
    assert all(0.6 < adapted[level] / photos[level] < 1.6 for level in shared), (photos, adapted)


def test_added_rgb_noise_reaches_the_grey_image_at_the_fitted_variance() -> None:
    """(a, b) is measured on grey; the noise the adapter adds to RGB must show up there in full."""
    levels = np.repeat(np.linspace(0.06, 0.94, 8), 64)[None, :].repeat(128, axis=0)
    rgb = np.rint(np.repeat(levels[..., None], 3, axis=2) * 255).astype(np.uint8)
    a, b = 4e-3, 2e-4
    noisy = [add_noise(rgb, a, b, np.random.default_rng(k)) for k in range(3)]
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in noisy]
    fitted_a, fitted_b = added_noise(
        noise_levels(grey), noise_levels([cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)] * 3)
    )
    assert fitted_a == pytest.approx(a, rel=0.25) and fitted_b == pytest.approx(b, abs=3e-4)


def test_unknown_option_is_refused(sets, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="bta"):
        fitted("fda", sets, tmp_path, bta=0.05)
    with pytest.raises(UserError, match="strength"):
        fitted("histogram", sets, tmp_path, strength=2)


def test_a_non_finite_option_is_refused_on_the_command_line(capsys) -> None:
    """`beta=nan` passed every range check (nan < 0 is false) and made black images."""
    with pytest.raises(SystemExit) as exit_info:
        main(["adapt", "train", "--synthetic", "s", "--real", "r", "--method", "fda",
              "--option", "beta=nan", "--out", "o"])  # fmt: skip
    assert exit_info.value.code == 2 and "expected a finite number" in capsys.readouterr().err


def test_apply_copies_labels_byte_identical_and_resumes_to_the_same_bytes(sets, tmp_path: Path) -> None:
    synthetic, _ = sets
    fitted("histogram", sets, tmp_path).save(tmp_path / "model")
    straight = apply_adapter(tmp_path / "model", synthetic, tmp_path / "straight", seed=4, progress=False)
    resumed = tmp_path / "resumed"
    apply_adapter(tmp_path / "model", synthetic, resumed, seed=4, progress=False)
    for stem in ("000002", "000004"):  # as if killed before these two finished
        (resumed / "meta" / f"{stem}.json").unlink()
        (resumed / "images" / f"{stem}.png").write_bytes(b"partial")
    apply_adapter(tmp_path / "model", synthetic, resumed, seed=4, progress=False)
    for path in sorted(p for p in synthetic.rglob("*") if p.is_file()):
        relative = path.relative_to(synthetic)
        if relative.parts[0] == "images":
            assert (straight / relative).read_bytes() == (resumed / relative).read_bytes()
            assert (straight / relative).read_bytes() != path.read_bytes()
        elif relative.name != "manifest.json":
            assert (straight / relative).read_bytes() == path.read_bytes(), relative
    manifest = json.loads((straight / "manifest.json").read_text())
    assert manifest["scene"] == "squares" and manifest["adapter"]["method"] == "histogram"
    assert manifest["adapter"]["seed"] == 4 and manifest["adapter"]["folder"] == str(
        (tmp_path / "model").resolve()
    )
    with pytest.raises(UserError, match="adapted differently"):
        apply_adapter(tmp_path / "model", synthetic, straight, seed=5, progress=False)


def as_jpeg_dataset(synthetic: Path) -> Path:
    """`synthetic` with its images stored as JPEG (quality 80), as `image_format: jpg` writes them."""
    for meta_path in (synthetic / "meta").glob("*.json"):
        meta = json.loads(meta_path.read_text())
        png = synthetic / meta["files"]["image"]
        meta["files"]["image"] = f"images/{png.stem}.jpg"
        cv2.imwrite(
            str(synthetic / meta["files"]["image"]), cv2.imread(str(png)), [cv2.IMWRITE_JPEG_QUALITY, 80]
        )
        png.unlink()
        meta_path.write_text(json.dumps(meta))
    coco = json.loads((synthetic / "annotations.json").read_text())
    for image in coco["images"]:
        image["file_name"] = image["file_name"].replace(".png", ".jpg")
    (synthetic / "annotations.json").write_text(json.dumps(coco))
    return synthetic


def test_an_identity_adapter_keeps_jpeg_bytes_and_a_second_adapter_keeps_the_first_on_record(
    sets, tmp_path: Path
) -> None:
    synthetic = as_jpeg_dataset(sets[0])
    fitted("fda", sets, tmp_path, beta=0.0).save(tmp_path / "identity")
    out = apply_adapter(tmp_path / "identity", synthetic, tmp_path / "out", progress=False)
    for image in (synthetic / "images").iterdir():  # re-encoded, a quality-80 JPEG changed by up to 32
        assert (out / "images" / image.name).read_bytes() == image.read_bytes()
    fitted("histogram", sets, tmp_path).save(tmp_path / "histogram")
    twice = apply_adapter(tmp_path / "histogram", out, tmp_path / "twice", progress=False)
    manifest = json.loads((twice / "manifest.json").read_text())
    assert manifest["adapter"]["method"] == "histogram"
    assert [earlier["method"] for earlier in manifest["earlier_adapters"]] == ["fda"]


def test_an_image_the_adapter_cannot_take_is_named(sets, tmp_path: Path) -> None:
    synthetic, _ = sets
    fitted("fda", sets, tmp_path, beta=0.5).save(tmp_path / "fda")  # 32 cycles at 64 px: in the bank
    large = synthetic / "images" / "000003.png"
    cv2.imwrite(str(large), cv2.resize(cv2.imread(str(large)), (128, 128)))  # 64 cycles: past the bank
    with pytest.raises(UserError, match=rf"{re.escape(str(large))}: fda adapter: .*--option beta=0.375"):
        apply_adapter(tmp_path / "fda", synthetic, tmp_path / "out", progress=False)


@pytest.mark.parametrize("damaged", ["source manifest", "output manifest", "output meta"])
def test_a_damaged_json_file_in_an_apply_is_named_not_a_traceback(damaged: str, sets, tmp_path: Path) -> None:
    synthetic, _ = sets
    fitted("histogram", sets, tmp_path).save(tmp_path / "model")
    out = apply_adapter(tmp_path / "model", synthetic, tmp_path / "out", seed=4, progress=False)
    path = {
        "source manifest": synthetic / "manifest.json",
        "output manifest": out / "manifest.json",
        "output meta": out / "meta" / "000001.json",
    }[damaged]
    path.write_text('{"adapter": ')  # cut short by a full disk or an editor
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}: not valid JSON"):
        apply_adapter(tmp_path / "model", synthetic, out, seed=4, progress=False)


def test_apply_refuses_a_source_whose_labels_lag_its_images(sets, tmp_path: Path) -> None:
    """The source's annotations.json is copied as the adapted set's labels: one a stopped run left
    behind would label the copy short of its images."""
    synthetic, _ = sets
    fitted("histogram", sets, tmp_path).save(tmp_path / "model")
    grown = shutil.copytree(synthetic, tmp_path / "grown")
    coco = json.loads((grown / "annotations.json").read_text())
    kept = coco["images"][:-1]
    ids = {image["id"] for image in kept}
    older = {**coco, "images": kept, "annotations": [a for a in coco["annotations"] if a["image_id"] in ids]}
    (grown / "annotations.json").write_text(json.dumps(older))
    with pytest.raises(UserError, match=rf"lists {len(kept)} images, but {len(kept) + 1} are finished"):
        apply_adapter(tmp_path / "model", grown, tmp_path / "adapted", progress=False)
    assert not (tmp_path / "adapted").exists()


def test_apply_into_a_folder_another_run_writes_is_refused(sets, tmp_path: Path) -> None:
    synthetic, _ = sets
    fitted("histogram", sets, tmp_path).save(tmp_path / "model")
    out = tmp_path / "adapted"
    out.mkdir()
    held = try_lock(out / WRITER_LOCK)
    with pytest.raises(UserError, match=rf"{out}: another scenesmith run is writing into this folder"):
        apply_adapter(tmp_path / "model", synthetic, out, progress=False)
    assert [p.name for p in out.iterdir()] == [WRITER_LOCK]
    held.close()
    apply_adapter(tmp_path / "model", synthetic, out, progress=False)  # the lock file is no content
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's notes")
    with pytest.raises(UserError, match="is not an adapted dataset"):
        apply_adapter(tmp_path / "model", synthetic, mine, progress=False)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]  # refused before anything was written
    unfinished = shutil.copytree(synthetic, tmp_path / "unfinished")  # no image finished (no meta)
    shutil.rmtree(unfinished / "meta")
    (unfinished / "meta").mkdir()
    with pytest.raises(UserError, match="no finished image"):
        apply_adapter(tmp_path / "model", unfinished, tmp_path / "empty_copy", progress=False)
    assert not (tmp_path / "empty_copy").exists()
    assert len(list((out / "meta").glob("*.json"))) == len(list((synthetic / "meta").glob("*.json")))


def test_a_refitted_adapter_with_the_same_settings_does_not_resume_an_older_folder(
    sets, tmp_path: Path
) -> None:
    """FDA refitted on as many other photos keeps beta and counts; only its amplitude bank differs."""
    synthetic, real = sets
    fitted("fda", sets, tmp_path, beta=0.05).save(tmp_path / "model")
    out = apply_adapter(tmp_path / "model", synthetic, tmp_path / "adapted", seed=0, progress=False)
    (out / "meta" / "000003.json").unlink()  # stopped before the last images
    synthetic_paths, real_paths = tuple(image_paths(synthetic)), tuple(image_paths(real, "train"))
    other = FitInputs(synthetic_paths, synthetic_paths[: len(real_paths)], 0, {"beta": 0.05})  # other photos
    fitter("fda")(other, tmp_path / "fda.partial").save(tmp_path / "model")
    with pytest.raises(UserError, match="adapted differently"):
        apply_adapter(tmp_path / "model", synthetic, out, seed=0, progress=False)
    legacy = json.loads((out / "manifest.json").read_text())
    del legacy["adapter"]["files_sha256"]  # a folder adapted before the digest was recorded
    (out / "manifest.json").write_text(json.dumps(legacy))
    apply_adapter(tmp_path / "model", synthetic, out, seed=0, progress=False)


def test_apply_resumes_after_a_move_but_not_onto_a_source_rendered_again(sets, tmp_path: Path) -> None:
    """The adapter and the source moved elsewhere are the same adapter and images: the stopped folder
    resumes. A source rendered again (other images under the same names) is refused, or its new labels
    would be copied beside images adapted from the old ones."""
    synthetic, _ = sets

    def set_render_time(folder: Path, seconds: float) -> None:
        for path in (folder / "meta").glob("*.json"):
            path.write_text(
                json.dumps({**json.loads(path.read_text()), "render": {"timings": {"render": seconds}}})
            )

    set_render_time(synthetic, 1.0)
    fitted("fda", sets, tmp_path, beta=0.05).save(tmp_path / "model")
    out = apply_adapter(tmp_path / "model", synthetic, tmp_path / "adapted", seed=0, progress=False)
    (out / "meta" / "000003.json").unlink()
    shutil.move(tmp_path / "model", tmp_path / "moved_model")
    shutil.move(synthetic, tmp_path / "moved_synthetic")
    apply_adapter(tmp_path / "moved_model", tmp_path / "moved_synthetic", out, seed=0, progress=False)
    assert (out / "meta" / "000003.json").is_file()
    (out / "meta" / "000003.json").unlink()
    set_render_time(tmp_path / "moved_synthetic", 9.9)  # the same images rendered again
    apply_adapter(tmp_path / "moved_model", tmp_path / "moved_synthetic", out, seed=0, progress=False)
    (out / "meta" / "000003.json").unlink()
    manifest = (out / "manifest.json").read_text()
    rerendered = write_synthetic(tmp_path / "rerendered", seed=7)
    with pytest.raises(UserError, match="image 0 was adapted from another image than"):
        apply_adapter(tmp_path / "moved_model", rerendered, out, seed=0, progress=False)
    assert (out / "manifest.json").read_text() == manifest  # a refusal changes nothing


@pytest.mark.parametrize(
    ("method", "damage", "message"),
    [
        ("fda", lambda record: record.pop("beta"), "missing key 'beta'"),
        ("histogram", lambda record: record.update(curves_lab=record["curves_lab"][:2]), "3×256 tone curves"),
        ("fda", None, "not an adapter record"),
        ("fda", "cut side file", "BadZipFile"),  # a partial copy of the folder: it was a bare traceback
        # failed at the first image, inside the renderer's sensor code, naming no adapter or key
        (
            "sensor",
            lambda record: record.update(blur_sigma_px=-1),
            "blur_sigma_px: expected a finite number >= 0",
        ),
        (
            "sensor",
            lambda record: record.update(jpeg_quality=0),
            "jpeg_quality: expected null or a whole number",
        ),
    ],
)
def test_a_damaged_adapter_record_is_named_not_a_traceback(
    sets, tmp_path: Path, method, damage, message
) -> None:
    synthetic, _ = sets
    model = tmp_path / "model"
    fitted(method, sets, tmp_path).save(model)
    record_path = model / "adapter.json"
    if damage is None:
        record_path.write_text(record_path.read_text()[:40])  # truncated
    elif damage == "cut side file":
        bank = model / "fda_bank.npz"
        bank.write_bytes(bank.read_bytes()[:100])
    else:
        record = json.loads(record_path.read_text())
        damage(record)
        record_path.write_text(json.dumps(record))
    with pytest.raises(UserError, match=message) as raised:
        apply_adapter(model, synthetic, tmp_path / "adapted", progress=False)
    assert str(model) in str(raised.value)


def test_no_copy_check_flags_planted_and_disguised_real_images(sets, tmp_path: Path) -> None:
    synthetic, real = sets
    real_paths = image_paths(real, "train")
    adapted = [*image_paths(synthetic)]
    photo = read_rgb(real_paths[1])
    disguised = np.clip(photo + np.random.default_rng(0).normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "disguised.jpg"), disguised[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 60])
    # a translator trains on mirrored crops: mirrored, turned and slightly moved copies are copies too
    posed = {
        "mirrored.png": read_rgb(real_paths[2])[:, ::-1],
        "turned.png": np.rot90(read_rgb(real_paths[3])),
        "moved.png": np.roll(read_rgb(real_paths[1]), (2, -3), axis=(0, 1)),  # 64² photos: 1 px = 1 thumb px
    }
    for name, rgb in posed.items():
        cv2.imwrite(str(tmp_path / name), np.ascontiguousarray(rgb[..., ::-1]))
    planted = [real_paths[0], tmp_path / "disguised.jpg", *(tmp_path / name for name in posed)]
    report = check_no_copies([*adapted, *planted], real_paths)
    flagged = {Path(c["image"]).name for c in report["near_copies"]}
    assert flagged == {real_paths[0].name, "disguised.jpg", *posed}
    assert len(report["per_image"]) == len(adapted) + len(planted)
    assert min(e["distance"] for e in report["per_image"][: len(adapted)]) > 10 * report["threshold"]


def _transformed_images(dataset: Path, out: Path, transform) -> Path:
    """A copy of the dataset's images (same relative paths) passed through `transform` (BGR → BGR)."""
    for path in image_paths(dataset):
        target = out / path.relative_to(dataset)
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), transform(cv2.imread(str(path))))
    return out


def test_alignment_is_one_for_the_same_image_and_drops_when_outlines_blur(sets, tmp_path: Path) -> None:
    instance = np.zeros((SIZE, SIZE), np.uint16)
    instance[10:30, 12:40], instance[36:56, 20:34] = 1, 2
    image = np.where(instance[..., None] > 0, 200, 60).astype(np.uint8).repeat(3, axis=2)
    assert edge_agreement(image, instance) == 1.0
    assert edge_agreement(cv2.GaussianBlur(image, (0, 0), 4), instance) < 0.5

    synthetic, _ = sets
    assert label_alignment(synthetic, synthetic, progress=False)["ratio"] == 1.0
    blurred = _transformed_images(
        synthetic, tmp_path / "blurred", lambda bgr: cv2.GaussianBlur(bgr, (0, 0), 4)
    )
    report = label_alignment(synthetic, blurred, progress=False)
    assert report["images"] == 6 and report["ratio"] < 0.6


def test_check_reports_an_alignment_it_cannot_measure_as_n_a(sets, tmp_path: Path, capsys) -> None:
    """Objects drawn in the floor's colour show no outline to align: the ratio has no value, and the
    check says so and still writes its report (it used to stop on a formatting error)."""
    synthetic, real = sets
    flat = tmp_path / "flat"
    shutil.copytree(synthetic, flat)
    _transformed_images(synthetic, flat, lambda bgr: np.full_like(bgr, 128))
    with pytest.raises(SystemExit) as exit_info:
        main(["adapt", "check", str(flat), "--real", str(real), "--original", str(flat),
              "--json", str(tmp_path / "check.json")])  # fmt: skip
    assert exit_info.value.code == 0
    assert "n/a (the original images show no edge on any outline)" in capsys.readouterr().out
    assert json.loads((tmp_path / "check.json").read_text())["label_alignment"]["ratio"] is None
    with pytest.raises(SystemExit) as exit_info:  # a mistyped --original: said before the scan
        main(["adapt", "check", str(flat), "--real", str(real), "--original", str(tmp_path / "nonexist")])
    assert exit_info.value.code == 2 and "--original" in capsys.readouterr().err


def test_outline_contrast_tells_a_faded_outline_from_a_kept_one(sets, tmp_path: Path) -> None:
    instance = np.zeros((SIZE, SIZE), np.uint16)
    instance[10:30, 12:40] = 1
    image = np.where(instance[..., None] > 0, 200, 60).astype(np.uint8).repeat(3, axis=2)
    faded = (image // 4 + 100).astype(np.uint8)  # outlines in place, a quarter of the step
    assert outline_contrast(faded, instance) == pytest.approx(outline_contrast(image, instance) / 4, rel=0.05)
    assert outline_contrast(image, np.zeros_like(instance)) is None
    moved = np.roll(image, (4, 4), axis=(0, 1))  # a moved outline leaves no gradient where the mask puts it
    assert outline_contrast(moved, instance) < 0.1 * outline_contrast(image, instance)

    synthetic, _ = sets
    assert label_alignment(synthetic, synthetic, progress=False)["outline_contrast_ratio"] == 1.0
    dimmed = _transformed_images(synthetic, tmp_path / "dimmed", lambda bgr: bgr // 2 + 64)
    assert label_alignment(synthetic, dimmed, progress=False)["outline_contrast_ratio"] == pytest.approx(
        0.5, abs=0.05
    )


def test_cli_trains_applies_and_checks_fda(sets, tmp_path: Path, capsys) -> None:
    synthetic, real = sets
    model, out = tmp_path / "fda_model", tmp_path / "adapted"
    for argv, code in (
        (
            [
                "adapt",
                "train",
                "--synthetic",
                str(synthetic),
                "--real",
                str(real),
                "--method",
                "fda",
                "--option",
                "beta=0.05",
                "--out",
                str(model),
            ],
            0,
        ),  # fmt: skip
        (["adapt", "apply", "--model", str(model), str(synthetic), str(out)], 0),
        (
            [
                "adapt",
                "check",
                str(out),
                "--real",
                str(real),
                "--original",
                str(synthetic),
                "--json",
                str(tmp_path / "check.json"),
            ],
            0,
        ),  # fmt: skip
        (
            [
                "adapt",
                "train",
                "--synthetic",
                str(synthetic),
                "--real",
                str(real),
                "--split",
                "test",
                "--method",
                "fda",
                "--out",
                str(tmp_path / "never"),
            ],
            2,
        ),  # fmt: skip
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == code, argv
    assert "train images only" in capsys.readouterr().err
    assert json.loads((model / "adapter.json").read_text())["beta"] == 0.05
    fitted_on = json.loads((model / "real_source.json").read_text())
    assert fitted_on["split"] == "train" and fitted_on["images"] == [
        str(p.resolve()) for p in image_paths(real, "train")
    ]
    check = json.loads((tmp_path / "check.json").read_text())
    assert check["no_copy"]["near_copies"] == [] and check["label_alignment"]["images"] == 6
    assert not (tmp_path / "never").exists()


def test_a_split_is_taken_from_the_coco_file_or_refused_never_ignored(sets) -> None:
    """The real photos' image folder holds the test photos too: asking it for `train` must fail."""
    synthetic, real = sets
    assert len(image_paths(real, "train")) == 4 and len(image_paths(real.parent, "train")) == 4
    for source in (real.parent / "images", synthetic):
        with pytest.raises(UserError, match="has no splits, so split 'train' cannot be taken from it"):
            image_paths(source, "train")
    assert len(image_paths(real.parent / "images", "none")) == 8  # every photo, asked for explicitly
    with pytest.raises(UserError, match="has no splits"):
        load_image_set(real.parent / "images", "train", None, np.random.default_rng(0))


def test_split_none_never_hands_an_adapter_the_test_photos(
    sets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`none` takes every image; where the COCO file marks some as test, an adapter may not have them,
    whether the source is the COCO file, its folder, the picture folder beside it, that folder named
    `.` from inside it, or a symlink to it from elsewhere (the last two found no COCO file)."""
    synthetic, real = sets
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/photos").symlink_to(real.parent / "images")
    monkeypatch.chdir(real.parent / "images")
    for source in (real, real.parent, real.parent / "images", Path("."), tmp_path / "elsewhere/photos"):
        with pytest.raises(UserError, match=r"marks 4 of them as test .*--split train"):
            real_training_paths(source, "none")
    assert len(real_training_paths(real, "train")) == 4
    pictures = tmp_path / "pictures"  # no COCO file anywhere near: nothing says which are test photos
    shutil.copytree(real.parent / "images", pictures)
    assert len(real_training_paths(pictures, "none")) == 8
    assert len(real_training_paths(synthetic, "none")) == 6


def test_cli_refusing_a_bad_option_leaves_no_work_folder(sets, tmp_path: Path, capsys) -> None:
    synthetic, real = sets
    model = tmp_path / "fda_model"
    argv = ["adapt", "train", "--synthetic", str(synthetic), "--real", str(real), "--method", "fda",
            "--option", "beta=abc", "--out", str(model)]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "beta='abc'" in capsys.readouterr().err
    assert not model.with_name("fda_model.fda.partial").exists() and not model.exists()


def test_a_second_fit_of_the_same_adapter_is_refused_while_the_first_runs(
    sets, tmp_path: Path, capsys
) -> None:
    synthetic, real = sets
    model = tmp_path / "model"
    work = tmp_path / "model.fda.partial"
    work.mkdir()
    train = ["adapt", "train", "--synthetic", str(synthetic), "--real", str(real), "--method", "fda",
             "--out", str(model)]  # fmt: skip
    first = try_lock(work / WRITER_LOCK)  # a fit of the same --out, still running
    with pytest.raises(SystemExit) as refused:
        main(train)
    assert refused.value.code == 2 and "another scenesmith run is writing" in capsys.readouterr().err
    first.close()
    model.mkdir()  # an empty folder made for it is a new folder all the same
    with pytest.raises(SystemExit) as done:
        main(train)
    assert done.value.code == 0 and not work.exists()
    assert sorted(p.name for p in model.iterdir()) == ["adapter.json", "fda_bank.npz", "real_source.json"]


def test_another_methods_interrupted_fit_stays_out_of_the_adapter(sets, tmp_path: Path, monkeypatch) -> None:
    """A CUT fit stopped at --out leaves its checkpoint; an FDA adapter fitted to the same --out must not
    take it in (it entered the adapter's files and digest), and the checkpoint stays for its resume."""
    synthetic, real = sets
    model = tmp_path / "model"
    real_fitter = adapter_module.fitter

    def stopped_cut(inputs: FitInputs, work: Path):
        (work / "checkpoint.pt").write_bytes(b"cut weights")
        raise KeyboardInterrupt

    monkeypatch.setattr(
        adapter_module, "fitter", lambda method: stopped_cut if method == "cut" else real_fitter(method)
    )
    train = ["adapt", "train", "--synthetic", str(synthetic), "--real", str(real), "--out", str(model)]
    with pytest.raises(SystemExit):  # Ctrl-C: 130
        main([*train, "--method", "cut"])
    with pytest.raises(SystemExit) as exit_:
        main([*train, "--method", "fda"])
    assert exit_.value.code == 0
    assert sorted(p.name for p in model.iterdir()) == ["adapter.json", "fda_bank.npz", "real_source.json"]
    assert [p.read_bytes() for p in tmp_path.glob("model*.partial/checkpoint.pt")] == [b"cut weights"]
