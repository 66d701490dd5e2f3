"""Scene rules: distributions, schema errors that name file + key path, overrides, and fuzzed bad input."""

from __future__ import annotations

import copy
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenesmith.cli import main
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.composition import builtin_dir, parse_yaml
from scenesmith.procedural.distributions import parse_number
from scenesmith.procedural.loader import LoadedScene, SceneRuleError, builtin_scenes, load_scene

SCENE_DIR = Path(__file__).resolve().parents[1] / "scenes"
DICE_TRAY = yaml.safe_load((SCENE_DIR / "dice_tray.yaml").read_text())


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code), captured.err


def write_scene(tmp_path: Path, data: object, name: str = "scene.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        (2.5, "Constant"),
        ({"uniform": [1, 2]}, "Uniform"),
        ({"normal": {"mean": 0, "std": 1}}, "Normal"),
        ({"truncnormal": {"mean": 0, "std": 1, "low": -1, "high": 2}}, "TruncNormal"),
        ({"loguniform": [0.1, 10]}, "LogUniform"),
        ({"randint": [1, 6]}, "RandInt"),
        ({"choice": [1, 2, 3]}, "Choice"),
        ({"choice": {"values": [1, 2], "weights": [3, 1]}}, "Choice"),
    ],
)
def test_every_distribution_parses_samples_in_support_and_round_trips(spec: object, kind: str) -> None:
    dist = parse_number(spec)
    assert type(dist).__name__ == kind
    low, high = dist.support()
    draws = [dist.sample(np.random.default_rng(i)) for i in range(200)]
    assert all(low <= d <= high for d in draws)
    assert parse_number(dist.describe()) == dist


def test_weighted_choice_follows_weights() -> None:
    dist = parse_number({"choice": {"values": [1, 2], "weights": [3, 1]}})
    rng = np.random.default_rng(0)
    draws = np.array([dist.sample(rng) for _ in range(4000)])
    assert abs((draws == 1).mean() - 0.75) < 0.03


@given(seed=st.integers(0, 2**32 - 1), low=st.floats(-1e6, 1e6), width=st.floats(0, 1e6))
def test_sampling_is_a_pure_function_of_the_generator(seed: int, low: float, width: float) -> None:
    dist = parse_number({"uniform": [low, low + width]})
    a = [dist.sample(np.random.default_rng(seed)) for _ in range(3)]
    b = [dist.sample(np.random.default_rng(seed)) for _ in range(3)]
    assert a == b
    assert all(low <= x <= low + width for x in a)


def test_builtin_dice_tray_is_listed_and_valid() -> None:
    assert "dice_tray" in builtin_scenes()
    loaded = load_scene("dice_tray")
    assert [c.name for c in loaded.rules.categories] == ["one", "two", "three", "four", "five", "six"]
    assert [c.id for c in loaded.rules.categories] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("override", "key_path", "expected"),
    [
        ("objects.dice.count=-1", "objects.dice.count", "integer >= 0"),
        ("objects.dice.cuont=3", "objects.dice.cuont", "unknown key"),
        ("camera.height_m=tall", "camera.height_m", "expected a number"),
        ("camera.height_m={uniform: [2, 1]}", "camera.height_m", "low 2 > high 1"),
        # loaded, then failed in the build: numpy refuses the span, or the weights' sum overflows
        ("camera.roll_deg={uniform: [-1e308, 1e308]}", "camera.roll_deg", "spans more than a float can hold"),
        (
            "objects.dice.count={choice: {values: [1, 2], weights: [1e308, 1e308]}}",
            "objects.dice.count",
            "positive, finite sum",
        ),
        ("render.samples=0", "render.samples", "greater than or equal to 1"),
        (
            "objects.dice.palette.0.materials.body.color=red",
            "objects.dice.palette[0].materials.body.color",
            "#rrggbb",
        ),
        ("objects.dice.params.sise_m=1", "objects.dice.params.sise_m", "allowed keys: size_m"),
        ("objects.dice.placement.support=[shelf]", "objects.dice.placement.support", "not a surface"),
        ("objects.dice.generator=dye", "objects.dice.generator", "die"),
    ],
)
def test_bad_values_name_file_key_path_value_and_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, key_path: str, expected: str
) -> None:
    scene = write_scene(tmp_path, DICE_TRAY)
    code, err = run_cli(["validate", str(scene), "--set", override], capsys)
    assert code == 2
    assert str(scene) in err and key_path in err and expected in err
    assert "Traceback" not in err


def test_unknown_key_lists_allowed_keys(tmp_path: Path) -> None:
    data = copy.deepcopy(DICE_TRAY)
    data["camera"]["heigth_m"] = 0.3
    with pytest.raises(SceneRuleError, match=r"camera\.heigth_m: unknown key; allowed keys: .*height_m"):
        load_scene(str(write_scene(tmp_path, data)))


def test_bad_yaml_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncamera: {height_m: [1,\n")
    code, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "broken.yaml" in err and "invalid YAML" in err and "line" in err


def test_missing_file_and_unknown_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["validate", "no/such/scene.yaml"], capsys)[0] == 2
    code, err = run_cli(["validate", "no_such_builtin"], capsys)
    assert code == 2 and "dice_tray" in err


def test_negative_count_on_the_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["generate", "dice_tray", "--count", "-5", "--out", "unused"], capsys)
    assert code == 2 and "--count" in err


def test_override_sets_nested_value_and_changes_hash() -> None:
    base = load_scene("dice_tray")
    changed = load_scene("dice_tray", ["objects.dice.count=3"])
    assert changed.rules.objects["dice"].count.sample(np.random.default_rng()) == 3
    assert changed.rules_hash != base.rules_hash
    assert load_scene("dice_tray").rules_hash == base.rules_hash


def test_the_rules_hash_follows_the_build_order_of_groups_surfaces_and_lamps(tmp_path: Path) -> None:
    """Groups are placed and numbered in file order (surfaces and lamps drawn in it), so swapping
    two is another dataset; the sorted dump alone gave both orders one hash, so a cache or a resume
    mixed their images."""
    data = yaml.safe_load((builtin_dir() / "dice_tray.yaml").read_text())
    data["lighting"]["lights"]["fill"] = data["lighting"]["lights"]["ceiling"]

    def swapped(*path: str) -> LoadedScene:
        changed = copy.deepcopy(data)
        parent = changed
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = dict(reversed(list(parent[path[-1]].items())))
        scene_file = tmp_path / f"{'_'.join(path)}.yaml"
        scene_file.write_text(yaml.safe_dump(changed, sort_keys=False))
        return load_scene(str(scene_file))

    (tmp_path / "sorted.yaml").write_text(yaml.safe_dump(data, sort_keys=True))
    in_sorted_order = load_scene(str(tmp_path / "sorted.yaml"))
    for path in (("objects",), ("surfaces",), ("lighting", "lights")):
        assert swapped(*path).rules_hash != in_sorted_order.rules_hash, path
    first = build_scene(in_sorted_order.rules, 1, 0).objects
    second = build_scene(swapped("objects").rules, 1, 0).objects
    assert [o.name for o in first] != [o.name for o in second]


def test_integers_are_decimal_as_in_yaml_1_2_not_octal_or_base_60(tmp_path: Path) -> None:
    """YAML 1.1 read `045` as octal 37, `09` as a string and `1:30` as 90: a zero-padded day of the
    year or count range changed silently, or failed as "expected a number"."""
    overrides = ["lighting.sun.day_of_year=045", "lighting.sun.solar_hour=09"]
    sun = load_scene("dice_tray", overrides).rules.lighting.sun
    assert (sun.day_of_year.value, sun.solar_hour.value) == (45, 9)
    padded = tmp_path / "padded.yaml"
    padded.write_text("extends: dice_tray\nobjects: {dice: {count: {randint: [010, 020]}}}\n")
    plain = load_scene("dice_tray", ["objects.dice.count={randint: [10, 20]}"])
    assert load_scene(str(padded)).canonical_json == plain.canonical_json
    parsed = parse_yaml("[0o17, 0x1f, 10_000, -007, +08, 1:30, '045', 1e3]", "test")
    assert parsed == [15, 31, 10000, -7, 8, "1:30", "045", 1000.0]


def test_override_changes_one_key_of_a_nested_default() -> None:
    """The file leaves a shelf's tag material to its default; --set may change just its roughness."""
    base = load_scene("retail_shelf").rules.surfaces["shelf"].tag_material
    changed = load_scene("retail_shelf", ["surfaces.shelf.tag_material.roughness=0.2"])
    tag_material = changed.rules.surfaces["shelf"].tag_material
    assert tag_material.roughness.sample(np.random.default_rng()) == 0.2
    assert tag_material.model_copy(update={"roughness": base.roughness}) == base


def test_every_nested_default_survives_the_trip_through_plain_data() -> None:
    """--set starts a left-out nested rule from its default written as data: it must read back the same."""
    from pydantic import BaseModel

    from scenesmith.procedural.loader import _unwrap
    from scenesmith.procedural.rules import SceneRules

    seen: set[type] = set()
    defaults: list[BaseModel] = []
    pending: list[object] = [SceneRules]
    while pending:
        for annotation in _unwrap(pending.pop()):
            if typing.get_origin(annotation) in (list, dict, tuple):
                pending += typing.get_args(annotation)
            elif (
                isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in seen
            ):
                seen.add(annotation)
                for field in annotation.model_fields.values():
                    default = field.get_default(call_default_factory=True)
                    if isinstance(default, BaseModel):
                        defaults.append(default)
                    pending.append(field.annotation)
    assert len(defaults) > 10
    for default in defaults:
        data = default.model_dump(mode="json", exclude_unset=True)
        assert type(default).model_validate(data) == default


# ---- property test: hundreds of malformed scene files, each must get exit 2 and a message ----


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _get(node: object, path: tuple) -> object:
    for part in path:
        node = node[part]  # type: ignore[index]
    return node


NODES = _paths(DICE_TRAY)
MAPPINGS = [p for p in NODES if isinstance(_get(DICE_TRAY, p), dict)]
NUMBER_LEAVES = [p for p in NODES if type(_get(DICE_TRAY, p)) in (int, float)]
NESTED_MAPPINGS = [p for p in MAPPINGS if p]
RANGES = [
    p
    for p in NODES
    if p and p[-1] in ("uniform", "randint") and _get(DICE_TRAY, p)[0] < _get(DICE_TRAY, p)[1]
]
REQUIRED = [
    ("name",),
    ("categories",),
    ("camera",),
    ("surfaces",),
    ("objects",),
    ("camera", "height_m"),
    ("camera", "horizontal_fov_deg"),
    ("surfaces", "table"),
    ("objects", "dice", "generator"),
    ("objects", "dice", "count"),
    ("objects", "dice", "placement"),
    ("objects", "dice", "placement", "support"),
    ("surfaces", "tray", "kind"),
    ("objects", "dice", "palette"),
    ("surfaces", "tray", "inner_width_m"),
    ("lighting", "lights", "ceiling", "power_w"),
]


def _mutate(data: dict, kind: str, draw: st.DataObject) -> dict:
    data = copy.deepcopy(data)
    if kind == "unknown_key":
        path = draw.draw(st.sampled_from(MAPPINGS))
        name = draw.draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12))
        target = _get(data, path)
        if name in target:
            name += "_zz"
        target[name] = draw.draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
    elif kind == "wrong_type":
        path = draw.draw(st.sampled_from(NUMBER_LEAVES))
        bad = draw.draw(st.one_of(st.sampled_from(["abc", "ten", "", "1e", "#"]), st.just([]), st.just({})))
        _get(data, path[:-1])[path[-1]] = bad
    elif kind == "mapping_to_list":
        path = draw.draw(st.sampled_from(NESTED_MAPPINGS))
        _get(data, path[:-1])[path[-1]] = [1, "x"]
    elif kind == "reversed_range":
        path = draw.draw(st.sampled_from(RANGES))
        pair = _get(data, path)
        pair[0], pair[1] = pair[1], pair[0]
    elif kind == "missing_required":
        path = draw.draw(st.sampled_from(REQUIRED))
        del _get(data, path[:-1])[path[-1]]
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(
        ["unknown_key", "wrong_type", "mapping_to_list", "reversed_range", "missing_required"]
    ),
    data=st.data(),
)
def test_malformed_scene_files_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, data: st.DataObject
) -> None:
    mutated = _mutate(DICE_TRAY, kind, data)
    scene = write_scene(tmp_path, mutated, "mutated.yaml")
    code, err = run_cli(["validate", str(scene)], capsys)
    assert code == 2, f"{kind} accepted"
    assert "mutated.yaml" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) >= 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_validator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    code, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "fuzz.yaml" in err


def test_extends_and_include_compose_scene_files(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "looks.yaml").write_text(
        "white_die: {body: {color: '#f4f4f4', roughness: 0.6}, pips: {color: '#050505'}}\n"
    )
    scene = tmp_path / "few.yaml"
    scene.write_text(
        "extends: dice_tray\n"
        "name: few_white_dice\n"
        "objects:\n"
        "  dice:\n"
        "    count: 3\n"
        "    palette: [{materials: {include: 'parts/looks.yaml#white_die', pips: {color: '#ff0000'}}}]\n"
    )
    rules = load_scene(str(scene)).rules
    rng = np.random.default_rng(0)
    assert rules.name == "few_white_dice" and rules.objects["dice"].count.sample(rng) == 3
    materials = rules.objects["dice"].palette[0].materials
    assert materials["pips"].color.sample(rng) == (1.0, 0.0, 0.0)  # local override wins
    assert materials["body"].roughness.sample(rng) == 0.6  # from the included part
    assert rules.camera == load_scene("dice_tray").rules.camera  # inherited unchanged


def test_a_child_distribution_or_method_replaces_the_parents_instead_of_merging(tmp_path: Path) -> None:
    """dice_tray's count is {choice: {values, weights}} and its camera height a uniform: a child that
    writes its own choice (no weights: uniform) or another distribution kind gets exactly that."""
    (tmp_path / "parts.yaml").write_text("dice_count: 4\nheights: [0.3]\n")
    scene = tmp_path / "child.yaml"
    scene.write_text(
        "extends: dice_tray\n"
        "camera: {height_m: {loguniform: [0.25, 0.3]}}\n"
        "objects:\n"
        "  dice: {count: {choice: {values: [2, 3]}}}\n"
    )
    rules = load_scene(str(scene)).rules
    counts = {rules.objects["dice"].count.sample(np.random.default_rng(k)) for k in range(200)}
    assert counts == {2, 3}
    heights = [rules.camera.height_m.sample(np.random.default_rng(k)) for k in range(50)]
    assert 0.25 <= min(heights) and max(heights) <= 0.3
    scene.write_text("extends: dice_tray\nobjects: {dice: {count: {include: 'parts.yaml#dice_count'}}}\n")
    assert load_scene(str(scene)).rules.objects["dice"].count.sample(np.random.default_rng(0)) == 4
    scene.write_text("extends: dice_tray\ncamera: {height_m: {include: 'parts.yaml#heights', extra: 1}}\n")
    with pytest.raises(SceneRuleError, match=r"camera.height_m.include: parts.yaml gives a list"):
        load_scene(str(scene))


@pytest.mark.parametrize(
    ("scene", "support", "expected"),
    [
        (
            "dice_tray",
            "[tray.top]",
            "'tray.top' is not a support: 'tray' publishes one support; name it 'tray'",
        ),
        ("retail_shelf", "[shelf.top]", "its boards are shelf.0, shelf.1"),
    ],
)
def test_a_support_no_surface_publishes_is_refused_not_left_empty(
    scene: str, support: str, expected: str
) -> None:
    """A physics drop onto 'tray.top' used to validate and then place no die at all."""
    group = "dice" if scene == "dice_tray" else "vases"
    with pytest.raises(SceneRuleError, match=expected.replace(".", r"\.")):
        load_scene(scene, [f"objects.{group}.placement.support={support}"])
    load_scene("retail_shelf", ["objects.vases.placement.support=[shelf.0, shelf_right]"])  # boards by number


@pytest.mark.parametrize("method", ["pack", "edge"])
def test_pack_and_edge_on_a_field_are_refused_since_they_ignore_its_relief(method: str) -> None:
    """They rest objects on the support's plane: on tilled soil, 2 cm stones floated up to 26 mm above
    it or sank 70% of their height into a ridge."""
    with pytest.raises(
        SceneRuleError, match=rf"objects\.maize\.placement\.support: 'field' is a field.*{method}"
    ):
        load_scene("crop_weeds", [f"objects.maize.placement={{method: {method}, support: [field]}}"])
    load_scene("crop_weeds", ["objects.maize.placement={method: physics, support: [field]}"])


def test_a_shelf_named_whole_needs_shelf_rows() -> None:
    overrides = ["objects.vases.placement={method: pack, support: [shelf]}"]
    with pytest.raises(SceneRuleError, match="is a shelf: name one of its boards"):
        load_scene("retail_shelf", overrides)


def test_a_broken_include_inside_an_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "looks.yaml").write_text("classic: {red: {include: 'missing.yaml#red'}}\n")
    scene = tmp_path / "scene.yaml"
    scene.write_text(
        "extends: dice_tray\nobjects: {dice: {palette: [{include: 'looks.yaml#classic.red'}]}}\n"
    )
    with pytest.raises(
        SceneRuleError, match=r"looks\.yaml: classic\.red\.include: cannot find 'missing\.yaml'"
    ):
        load_scene(str(scene))


def test_a_truncnormal_with_no_room_between_its_bounds_is_refused_at_load() -> None:
    with pytest.raises(SceneRuleError, match="camera.tilt_deg.*low < high"):
        load_scene("dice_tray", ["camera.tilt_deg.truncnormal.high=0"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("extends: self.yaml\n", "circular reference"),
        ("extends: no_such_scene\n", "cannot find"),
        ("extends: dice_tray\nobjects: {dice: {palette: [{include: 'missing.yaml#x'}]}}\n", "cannot find"),
        ("extends: dice_tray\ncamera: {include: 'self.yaml#nope'}\n", "circular reference"),
    ],
)
def test_bad_references_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    scene = tmp_path / "self.yaml"
    scene.write_text(text)
    code, err = run_cli(["validate", str(scene)], capsys)
    assert code == 2 and expected in err and "Traceback" not in err


def test_the_cli_runs_from_a_thread_other_than_the_main_one() -> None:
    """main() installs its SIGTERM handler only where Python allows it (the main thread)."""
    import threading

    codes: list[object] = []

    def run() -> None:
        try:
            main(["scenes"])
        except SystemExit as exit_info:
            codes.append(exit_info.code)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert codes == [0]


@pytest.mark.parametrize(
    ("scene", "surface", "drawn"),
    [
        ("conveyor_parts", "belt", ["edge_gap_m", "guard_thickness_m", "frame_depth_m"]),
        ("dice_tray", "tray", ["wall_thickness_m", "floor_thickness_m"]),
        ("crop_weeds", "field", ["persistence"]),
    ],
)
def test_surface_values_drawn_per_image_are_recorded(scene: str, surface: str, drawn: list[str]) -> None:
    """The scenes README promises every value drawn is in `scene.factors`; these were drawn unrecorded
    (conveyor_parts varies its guard thickness, crop_weeds its noise persistence)."""
    rules = load_scene(scene).rules
    built = (build_scene(rules, 0, index).factors for index in range(8))
    factors = next(f for f in built if f.get(f"surfaces.{surface}.present", True))  # dice_tray's is optional
    assert all(f"surfaces.{surface}.{key}" in factors for key in drawn), sorted(factors)


def test_a_set_into_a_distribution_left_at_its_default_edits_that_distribution() -> None:
    """The default `{uniform: [0.002, 0.015]}` was replaced by {}, and the list index became a key:
    "expects a list [low, high], got {'1': 0.02}"."""
    cans = load_scene("retail_shelf", ["objects.cans.placement.gap_m.uniform.1=0.02"]).rules.objects["cans"]
    assert (cans.placement.gap_m.low, cans.placement.gap_m.high) == (0.002, 0.02)
    assert load_scene("retail_shelf").rules.objects["cans"].placement.gap_m.high == 0.015  # default intact
    other_kind = ["objects.cans.placement.gap_m.choice.values=[0.01, 0.02]"]  # replaces the default
    assert load_scene("retail_shelf", other_kind).rules.objects["cans"].placement.gap_m.values == (0.01, 0.02)


def test_a_set_into_one_item_of_a_tuple_default_edits_that_item() -> None:
    """`camera.target_m` defaults to a tuple, which was not copied: "camera.target_m: Input should be a
    valid tuple", naming neither the value nor that the key takes a list."""
    target = load_scene("dice_tray", ["camera.target_m.0=0.1"]).rules.camera.target_m
    assert [item.value for item in target] == [0.1, 0.0, 0.0]
