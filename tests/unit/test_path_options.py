"""Specification of the one check every path option passes (node_args.check_abs_path)."""
import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_args


@pytest.mark.parametrize("value,expected", [("/opt/x/", "/opt/x"), ("//", "/"), ("//opt//x", "/opt/x"),
                                            ("/opt/./x", "/opt/x"), ("/opt/\u00e9t\u00e9", "/opt/\u00e9t\u00e9")])
def test_an_absolute_path_is_returned_normalised(value, expected):
    assert node_args.check_abs_path("root", value) == expected


@pytest.mark.parametrize("value", ["", "opt/x", "./x", None, 7])
def test_a_path_that_is_not_absolute_fails_naming_the_option(value):
    with pytest.raises(node_args.PathError, match=r"^root must be an absolute path"):
        node_args.check_abs_path("root", value)


def test_a_path_with_dot_dot_fails_naming_the_option():
    with pytest.raises(node_args.PathError, match=r"^root must not contain '\.\.'"):
        node_args.check_abs_path("root", "/opt/../etc")


@pytest.mark.parametrize("char", ["\n", "\x00", "\x1b", "\x7f", "\x85", "\udcff"])
def test_a_control_character_or_undecodable_byte_fails_naming_the_option(char):
    with pytest.raises(node_args.PathError, match=r"^root must not contain control characters") as info:
        node_args.check_abs_path("root", "/opt/a%sb" % char)
    assert "\n" not in str(info.value)
