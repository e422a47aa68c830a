"""The witness's short description form, as the Compose tab asks it, read into attribute labels.

Each question offers "Not sure" (the attribute is left to the face space, which fills it in from
what the other answers imply) and answers that set one or more of CelebA's labels. "Also noticed"
names any other attribute the witness is sure the person had.
"""

from __future__ import annotations

from typing import Sequence

from ..attributes import ATTRIBUTES, check_names

NOT_SURE = "Not sure"
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

# question -> {answer: {attribute: has it}}; every question also takes NOT_SURE.
QUESTIONS: dict[str, dict[str, dict[str, bool]]] = {
    "Sex": {"Man": {"Male": True}, "Woman": {"Male": False}},
    "Age": {"Young": {"Young": True}, "Older": {"Young": False}},
    "Hair": {
        "Black": {"Black_Hair": True, "Bald": False},
        "Blond": {"Blond_Hair": True, "Bald": False},
        "Brown": {"Brown_Hair": True, "Bald": False},
        "Grey": {"Gray_Hair": True, "Bald": False},
        "Bald": {"Bald": True},
    },
    "Facial hair": {
        "None": {"No_Beard": True, "Mustache": False, "Goatee": False},
        "Beard": {"No_Beard": False},
        "Moustache": {"Mustache": True, "No_Beard": False},
        "Goatee": {"Goatee": True, "No_Beard": False},
    },
    "Glasses": {"Yes": {"Eyeglasses": True}, "No": {"Eyeglasses": False}},
    "Hat": {"Yes": {"Wearing_Hat": True}, "No": {"Wearing_Hat": False}},
}
ALSO = tuple(a for a in ATTRIBUTES if a not in {k for answers in QUESTIONS.values()
                                                for labels in answers.values() for k in labels}
             and a != "Attractive")  # what else a witness may have noticed (not a judgement of looks)


def choices(question: str) -> list[str]:
    return [NOT_SURE, *QUESTIONS[question]]


def description_of(answers: Sequence[str | None], also: Sequence[str] | None = ()) -> dict[str, bool]:
    """The answers to ``QUESTIONS`` in order (None or "Not sure": not known) and the attributes
    also noticed -> ``{attribute: True/False}``. A hair colour excludes the other colours."""
    if len(answers) != len(QUESTIONS):
        raise ValueError(f"expected {len(QUESTIONS)} answers ({', '.join(QUESTIONS)}), got {len(answers)}")
    out: dict[str, bool] = {}
    for (question, options), answer in zip(QUESTIONS.items(), answers):
        if answer in (None, "", NOT_SURE):
            continue
        if answer not in options:
            raise ValueError(f"{question}: {answer!r} is not one of {', '.join(choices(question))}")
        out.update(options[answer])
        if question == "Hair" and answer != "Bald":
            out.update({c: False for c in HAIR_COLOURS if not options[answer].get(c)})
    also = list(also or [])
    check_names(also)
    for name in also:
        if name not in ALSO:
            raise ValueError(f"{name} is answered by the questions above, not under 'also noticed'")
        out[name] = True
    return out
