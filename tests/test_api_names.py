"""The API a client sees reads like the docs: every endpoint says what it does, and every
parameter (and every value it returns) has a name and a label, as ``Client.view_api()`` shows
them, never Gradio's stand-ins (``parameter_240``, ``param_2``, ``value_47``)."""

from __future__ import annotations

import re

from disguise.attributes import ATTRIBUTES
from disguise.files import BUNDLED_WEIGHTS
from disguise.serving import events
from tests.appserver import client, serve

STAND_IN = re.compile(r"(parameter|param|value)_\d+")
SLIDERS = [f"alpha_{a}" for a in ATTRIBUTES]


def test_api_signature_names_every_input():
    """The studio and ``warn`` are not inputs; ``*values`` is the 40 sliders, the view, the screen
    (the ones the event does not name itself), ``*sliders`` the 40 sliders."""
    names = lambda fn: list(events.api_signature(fn).parameters)
    assert names(events.upload) == ["image", "already_aligned", "locked", *SLIDERS, "view", "screen"]
    assert names(events.resize) == ["face", "screen", "locked", *SLIDERS, "view"]
    assert names(events.compose_refine) == ["composite", "locked", *SLIDERS]
    assert names(events.compose_undo) == ["composite", "blur"]
    assert names(events.latent) == ["x", "y"]


def test_every_endpoint_parameter_is_named_and_labelled():
    """On the bundled weights (every tab's endpoints): each parameter has a name a client can pass
    it by, and a label; each endpoint a description. A client may name the sliders it moves."""
    with serve(BUNDLED_WEIGHTS) as (url, _):
        c = client(url)
        api = c.view_api(return_format="dict", print_info=False)
        endpoints = api["named_endpoints"]
        problems = []
        for name, endpoint in endpoints.items():
            if not endpoint["description"].strip():
                problems.append(f"{name}: no description")
            for k, p in enumerate(endpoint["parameters"]):
                pname, label = p.get("parameter_name") or "", (p.get("label") or "").strip()
                if not pname.isidentifier() or STAND_IN.fullmatch(pname):
                    problems.append(f"{name}: parameter {k} is named {pname!r}")
                if not label or STAND_IN.fullmatch(label):
                    problems.append(f"{name}: parameter {pname or k} is labelled {label!r}")
            for k, r in enumerate(endpoint["returns"]):
                if not (r.get("label") or "").strip() or STAND_IN.fullmatch(r["label"]):
                    problems.append(f"{name}: value {k} it returns is labelled {r.get('label')!r}")
        assert not problems, "\n".join(problems)
        assert not api["unnamed_endpoints"]
        assert {"/prepare", "/edit", "/edit_by_name", "/match", "/latent", "/compose_start", "/compose_pick"} \
            <= set(endpoints)
        assert [p["parameter_name"] for p in endpoints["/compose_start"]["parameters"]] == [
            "description", "blur", "seed"]
        assert [p["parameter_name"] for p in endpoints["/compose_pick"]["parameters"]] == [
            "generation", "picks", "best", "blur"]
        assert [p["parameter_name"] for p in endpoints["/edit"]["parameters"]] == ["locked", *SLIDERS, "view"]
        # Named, the parameters can be passed by name; the others keep their defaults.
        assert c.predict(alpha_Eyeglasses=2.0, view="model", api_name="/edit") is None  # no face yet
        decoded, plane = c.predict(x=0.5, y=-1.25, api_name="/latent")
        assert decoded and plane
