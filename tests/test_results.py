"""Gold comparison per control type: scores in [0, 1], one-to-one region matching, unknown types not checked."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ls_context.checks.compare import compare, describe


def item(name, kind, **value):
    return {"from_name": name, "to_name": "x", "type": kind, "value": value}


def verdict(expected, given_, **options):
    [result] = compare(expected, given_, **options)
    return result


def test_single_choice_is_exact_and_multi_choice_is_overlap():
    assert verdict([item("c", "choices", choices=["A"])], [item("c", "choices", choices=["A"])]).passed
    assert verdict([item("c", "choices", choices=["A"])], [item("c", "choices", choices=["B"])]).score == 0.0
    multi = verdict([item("c", "choices", choices=["A", "B"])], [item("c", "choices", choices=["B", "C"])])
    assert multi.score == pytest.approx(1 / 3) and multi.passed is False


def test_taxonomy_paths():
    expected = [item("t", "taxonomy", taxonomy=[["Animal", "Cat"]])]
    assert verdict(expected, [item("t", "taxonomy", taxonomy=[["Animal", "Cat"]])]).score == 1.0
    assert verdict(expected, [item("t", "taxonomy", taxonomy=[["Animal", "Dog"]])]).score == 0.0


def test_spans_need_overlap_and_the_same_label():
    expected = [item("e", "labels", start=0, end=10, text="0123456789", labels=["Person"])]

    assert verdict(expected, [item("e", "labels", start=5, end=10, labels=["Person"])]).score == pytest.approx(0.5)
    assert verdict(expected, [item("e", "labels", start=0, end=10, labels=["Organization"])]).score == 0.0


def test_regions_are_matched_one_to_one_to_maximise_total_overlap():
    # Greedy matching would pair expected[0] with given[0] (IoU 0.5) and leave expected[1] with 0.
    expected = [item("b", "rectanglelabels", x=0, y=0, width=10, height=10, rectanglelabels=["Box"]),
                item("b", "rectanglelabels", x=5, y=0, width=10, height=10, rectanglelabels=["Box"])]
    given_ = [item("b", "rectanglelabels", x=5, y=0, width=10, height=10, rectanglelabels=["Box"]),
              item("b", "rectanglelabels", x=0, y=0, width=10, height=10, rectanglelabels=["Box"]),
              item("b", "rectanglelabels", x=80, y=80, width=5, height=5, rectanglelabels=["Box"])]

    result = verdict(expected, given_)

    assert result.score == pytest.approx(2 / 3)  # two perfect matches, one extra box
    assert not result.passed  # the extra box is a mistake: a region answer passes only with every region matched and none extra
    assert verdict(expected, given_[:2]).passed and not verdict(expected, given_[:1]).passed  # half the boxes, however exact, fails


def test_polygon_iou_of_two_squares_half_overlapping():
    square = [[10, 10], [30, 10], [30, 30], [10, 30]]
    shifted = [[20, 10], [40, 10], [40, 30], [20, 30]]

    score = verdict([item("p", "polygonlabels", points=square, polygonlabels=["Dent"])],
                    [item("p", "polygonlabels", points=shifted, polygonlabels=["Dent"])]).score

    assert score == pytest.approx(1 / 3, abs=0.02)


def test_text_is_compared_after_normalising_case_space_and_punctuation():
    assert verdict([item("t", "textarea", text=["Hello,  World!"])], [item("t", "textarea", text=["hello world"])]).score == 1.0
    assert verdict([item("t", "textarea", text=["refund the order"])], [item("t", "textarea", text=["cancel"])]).passed is False


def test_numbers_and_ratings_use_a_tolerance():
    expected = [item("n", "number", number=100)]
    assert verdict(expected, [item("n", "number", number=103)]).passed is False
    assert verdict(expected, [item("n", "number", number=103)], tolerances={"number": 5}).passed is True
    assert verdict([item("r", "rating", rating=4)], []).score == 0.0


def test_unknown_types_are_not_checked_and_own_controls_are_ignored():
    results = compare(
        [item("kp", "keypointlabels", x=1, y=2, keypointlabels=["Eye"]), item("ls_flag", "choices", choices=["Unsure"])],
        [],
    )

    assert [(v.control, v.checked, v.passed) for v in results] == [("kp", False, None)]


def test_describe_reads_like_feedback():
    assert describe([item("c", "choices", choices=["Urgent"])]) == "Urgent"
    assert describe([item("e", "labels", start=0, end=4, text="Maria", labels=["Person"])]) == 'Person: "Maria"'
    assert describe([]) == "(nothing)"


boxes = st.lists(st.fixed_dictionaries({
    "x": st.floats(0, 80), "y": st.floats(0, 80), "width": st.floats(1, 20), "height": st.floats(1, 20),
    "rectanglelabels": st.sampled_from([["A"], ["B"]]),
}), max_size=5)


@settings(max_examples=100, deadline=None)
@given(boxes, boxes)
def test_scores_stay_in_range_and_identity_scores_one(a, b):
    expected = [{"from_name": "b", "type": "rectanglelabels", "value": v} for v in a] or [item("b", "rectanglelabels", x=1, y=1, width=2, height=2, rectanglelabels=["A"])]
    answer = [{"from_name": "b", "type": "rectanglelabels", "value": v} for v in b]

    assert 0.0 <= verdict(expected, answer).score <= 1.0
    assert verdict(expected, expected).score == pytest.approx(1.0)
