"""``python train.py --help`` lists every config group with what it chooses and every
option with its one-line description, and says how to see one option's fields."""

from __future__ import annotations

from engine.help_page import CONFIG_DIR, GROUPS, first_comment, group_listing


def groups() -> list[str]:
    return sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name != "hydra")


def test_every_group_and_option_has_its_line():
    assert sorted(GROUPS) == groups()  # a new group needs its one line here
    listing = group_listing()
    for group in groups():
        assert f"{group}: {GROUPS[group]}" in listing
        for path in (CONFIG_DIR / group).glob("*.yaml"):
            assert first_comment(path), f"{path} starts with no comment saying what it is"
            assert f"    {path.stem} " in listing, path


def test_first_comment_skips_the_package_directive(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("# @package _global_\n\n# An LSTM.\n# more\nname: lstm\n")
    assert first_comment(path) == "An LSTM."
    path.write_text("name: lstm  # not a heading\n")
    assert first_comment(path) == ""


def test_help_page_and_one_options_fields(scripts):
    page = scripts.run("train.py", "--help", timeout=120)
    assert page.returncode == 0, page.stderr
    out = page.stdout
    assert group_listing() in out  # every group and option, as the test above checks
    assert "python train.py model=lstm --help" in out  # says how to see an option's fields
    assert "  name: mlp" in out  # the composed config: the default model's fields
    lstm = scripts.run("train.py", "model=lstm", "--help", timeout=120)
    assert lstm.returncode == 0, lstm.stderr
    assert "  name: lstm" in lstm.stdout and "  name: mlp" not in lstm.stdout
