"""node_args.node_problem (the gpumock.nvidia.node_problem filter): the node modules' own check of
the node options, on the controller. (The filter plugin itself imports Ansible's controller
code, which changes how modules warn in this process; the role's runs exercise it.)"""
import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.runner.node_args import NodeOptionsError, node_problem


def test_good_options_have_no_problem():
    assert node_problem({"profile": "dgxh100", "gpu_count": 4, "node_id": "n1", "mig_enabled": True,
                         "driver_version": "550.54.15"}) == ""


def test_null_options_take_the_modules_defaults():
    assert node_problem({"profile": None, "gpu_count": None, "node_id": None, "mig_enabled": None,
                         "driver_version": None}) == ""


def test_gpu_count_out_of_range_names_the_prefixed_option():
    assert node_problem({"gpu_count": 129}, prefix="gpu_mock_") == \
        "gpu_mock_gpu_count must be an integer from 1 to 128, got 129."


def test_unknown_profile_names_the_option():
    assert node_problem({"profile": "dgx9"}, prefix="gpu_mock_").startswith("value of gpu_mock_profile must be one of: dgxa100, ")


def test_bad_driver_version_names_the_option():
    assert node_problem({"driver_version": "latest"}, prefix="p_").startswith("p_driver_version must be 2 or 3 groups of ASCII digits")


def test_mig_on_a_board_without_mig_names_the_option():
    assert node_problem({"profile": "t4", "mig_enabled": True}, prefix="x_").startswith("x_mig_enabled is not possible")


def test_an_unknown_option_is_an_error_of_the_caller():
    with pytest.raises(NodeOptionsError, match="unknown node options colour"):
        node_problem({"colour": "green"})


def test_strings_convert_as_in_the_modules():
    assert node_problem({"gpu_count": "4", "mig_enabled": "yes", "profile": "dgxa100"}) == ""


def test_a_gpu_count_that_is_no_number_names_the_prefixed_option():
    assert "'gpu_mock_gpu_count'" in node_problem({"gpu_count": "four"}, prefix="gpu_mock_")


def test_an_impossible_mig_layout_names_the_prefixed_option():
    assert node_problem({"profile": "dgxa100", "mig_enabled": True, "mig_layout": ["7g.40gb", "1g.5gb"]},
                        prefix="gpu_mock_").startswith("gpu_mock_mig_layout: GPU 0 has no room for 1g.5gb")


def test_a_value_the_validator_quotes_whole_still_gives_one_line():
    problem = node_problem({"profile": "dgx\na100\x00"}, prefix="gpu_mock_")
    assert problem.startswith("value of gpu_mock_profile must be one of: dgxa100, ")
    assert problem.endswith("got: dgx\\na100\\x00")


def test_a_node_id_no_consumer_can_carry_names_the_prefixed_option():
    assert node_problem({"node_id": "node\nid"}, prefix="gpu_mock_").startswith(
        "gpu_mock_node_id must be one line of printable characters")


def test_a_driver_version_in_other_digits_names_the_prefixed_option():
    assert node_problem({"driver_version": "\u0665\u0668\u0660.\u0661\u0662.\u0660\u0664"}, prefix="gpu_mock_") \
        .startswith("gpu_mock_driver_version must be 2 or 3 groups of ASCII digits")
