"""A task's numeric and categorical fields as classifier features, named in a labeler's terms."""

import random

from ml_backend.context_model import ContextModel, Example
from ml_backend.fields import FieldWords

CONFIG = """<View>
  <Text name="text" value="$description"/>
  <Choices name="route" toName="text" choice="single">
    <Choice value="Expedite"/><Choice value="Review"/>
  </Choices>
  <TextArea name="ls_rationale" toName="text" editable="false" readonly="true" maxSubmissions="0"/>
</View>"""


def test_numbers_are_cut_at_quartiles_and_categories_kept_when_few():
    datas = [{"description": "x", "amount": f"{value:,}", "carrier": carrier, "ref": f"id-{value}"}
             for value, carrier in zip(range(1000, 9000, 100), ["Alder", "Harbor Mutual"] * 40)]

    words = FieldWords("description").fit(datas)

    assert list(words.cuts_) == ["amount"] and list(words.categories_) == ["carrier"]  # 80 distinct refs: an id, left out
    assert words.words({"amount": "8,500", "carrier": "Harbor Mutual", "description": "x"}) == "amount_q4 carrier_harbor_mutual"
    assert words.words({"amount": 1000}) == "amount_q1"
    assert words.words({"amount": "a lot", "carrier": "Unknown Co"}) == ""
    assert words.describe("amount_q4") == f"amount {words.cuts_['amount'][-1]:,g} or more"
    assert words.describe("amount_q1") == f"amount under {words.cuts_['amount'][0]:,g}"
    assert words.describe("carrier_harbor_mutual") == "carrier Harbor Mutual"
    assert words.describe("amount") is None and words.describe("stolen") is None


def test_fields_no_task_has_give_no_words_and_bad_data_is_ignored():
    words = FieldWords("description").fit([None, {"description": "x"}, {"description": "y", "flag": True}])

    assert not words and words.words({"flag": True}) == "" and words.words(None) == ""


def test_an_amount_that_decides_the_label_reaches_the_model_and_its_rationale():
    rng = random.Random(4)
    texts = ["Water damage in the kitchen", "Phone stolen on the train", "Car window broken", "Bike stolen from the shed",
             "Phone"]  # a text of one word: its pair with the amount's word is a feature too
    examples = []
    for number in range(200):
        amount = rng.randint(100, 20_000)
        data = {"description": rng.choice(texts), "amount": f"{amount:,}"}
        examples.append(Example(data["description"], ("Review" if amount > 10_000 else "Expedite",), "annotation", data=data))

    model = ContextModel(CONFIG).fit({"route": examples})
    big, small = model.predict([{"id": 1, "data": {"description": "Phone stolen on the train", "amount": "19,500"}},
                                {"id": 2, "data": {"description": "Phone stolen on the train", "amount": "300"}}])

    def chosen(prediction):
        return next(item["value"]["choices"][0] for item in prediction["result"] if item["from_name"] == "route")

    assert (chosen(big), chosen(small)) == ("Review", "Expedite")
    rationale = next(item["value"]["text"][0] for item in big["result"] if item["from_name"] == "ls_rationale")
    assert "'amount " in rationale and " or more'" in rationale
    assert "_q" not in rationale  # never the feature's code, also not in a word pair


def test_a_word_pair_across_text_and_fields_is_named_in_words():
    model = ContextModel(CONFIG)
    choice = model.choices[0]
    choice.fields_ = FieldWords("description").fit([{"amount": "100", "vendor": "Acme"}, {"amount": "9,000", "vendor": "QuickCash Ltd"}])

    assert choice._in_words("february amount_q4") == f"february + amount {choice.fields_.cuts_['amount'][-1]:,g} or more"
    assert choice._in_words("amount_q1 vendor_quickcash_ltd").endswith(" + vendor QuickCash Ltd")
    assert choice._in_words("late delivery") == "late delivery"
