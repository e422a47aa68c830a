"""The page's words: results formatted as the Markdown the app shows (and the start-up line)."""

from __future__ import annotations

from pathlib import Path

from ..compose.face_space import describe
from ..compose.session import MAX_GENERATIONS
from ..identity.match import MatchResult


def identity_line(result: dict | None) -> str:
    """The line under the pictures: is the edited face still this person, and who judged?
    ("" without a person to compare with)."""
    if result is None:
        return ""
    if "note" in result:
        return f"Identity: {result['note']}."
    verdict = "**still recognised**" if result["recognised"] else "**not recognised**"
    if "distance" in result:  # dlib's: a distance, the same person below its threshold
        return (f"Identity, judged by {result['recogniser']}: distance {result['distance']:.2f} to the uploaded "
                f"photo: {verdict} (the same person below {result['distance_threshold']:.2f})")
    return (f"Identity, judged by {result['recogniser']}: cosine similarity {result['similarity']:.2f} to the "
            f"uploaded face: {verdict} (its threshold is {result['threshold']:.2f} at {result['far']:.0%} "
            f"false accepts)")


def match_table(result: MatchResult) -> str:
    """The ranking as a Markdown table under its summary, saying where the disguise came from."""
    rows = [f"| {k} | {m.name} | {m.similarity:.3f} | {'yes' if m.recognised else 'no'} | "
            f"{', '.join(m.difference_labels) or '-'} |" for k, m in enumerate(result.suspects, 1)]
    heading = {"judge": "sighting differs in (the attribute judge)",
               "investigator": "drawn in the disguise you ticked"}.get(result.disguise_from, "disguise")
    lines = [f"**{result.summary}**", ""]
    if not result.disguise_from:
        lines += [NO_DISGUISE_CLAIM, ""]
    return "\n".join(lines + [f"| rank | suspect | similarity | recognised | {heading} |",
                              "| ---: | --- | ---: | :---: | --- |", *rows])


def gallery_table(hits) -> str:
    """A gallery search as Markdown: the verdict, then the faces found, best first."""
    rows = [f"| {k} | {h.name} | {h.distance:.3f} | {'yes' if h.recognised else 'no'} |"
            for k, h in enumerate(hits.hits, 1)]
    lines = [f"**{hits.summary}**", ""] + ([f"_{hits.notice}_", ""] if hits.notice else [])
    return "\n".join(lines + ["| rank | known face | distance | the same person |", "| ---: | --- | ---: | :---: |",
                              *rows])


NO_DISGUISE_CLAIM = ("The attribute judge learned drawn faces and reads no photo, so nothing is claimed about "
                     "what the sighting wears: tick the disguise you see in it (glasses, a hat, a beard, ...) "
                     "and each suspect is drawn in it.")


def model_note(trained_on: str) -> str:
    """Said once, under the title: what the loaded VAE learned, when that was not real faces."""
    if trained_on == "celeba":
        return ""
    return ("The demo model learned drawn faces, so its edits on photos are rough until weights trained on "
            "CelebA are loaded; who is in a photo is judged by dlib's recogniser, trained on real people.")


def live_summary(decoder: Path | None, decoder_problem: str, runtime: str) -> str:
    """Whether the page decodes in the browser, and from where (the server's start-up line)."""
    if decoder is None:
        return f"no ({decoder_problem}); every edit goes through the server"
    if runtime == "off":
        return "no (DISGUISE_RUNTIME=off)"
    source = ("web/node_modules" if runtime == "local"
              else "the CDN (run `npm ci --prefix web` to serve it from here)")
    return f"yes, {decoder.name} with onnxruntime-web from {source}"


def started(weights: str, studio, runtime: str) -> str:
    """The server's start-up lines: what it loaded, and whether the page decodes in the browser."""
    size, z = studio.editor.size, studio.editor.model.config.z_dim
    bank = studio.editor.bank
    return (f"disguise: {weights} loaded on {studio.editor.device} ({size} x {size}, z {z})\n"
            f"disguise: sliders from {bank.method} vectors: {bank.unit}\n"
            "disguise: the page decodes in the browser: "
            + live_summary(studio.decoder_file, studio.decoder_problem, runtime))


INTRO = ("**disguise**: upload a face, move a slider right to add an attribute, left to remove it "
         "(glasses, a hat, a beard, hair, make-up, age). Your photo stays in this session only.")


def header(trained_on: str) -> str:
    """The page's first lines: what it does, and (once) what the loaded model learned."""
    note = model_note(trained_on)
    return INTRO + (f"\n\n<span class='note'>{note}</span>" if note else "")


MATCH_INTRO = """Who is this? Upload a still of a disguised person and the suspects' photos: they are
ranked by a face recogniser (for photos, dlib's, trained on real people), and each suspect is drawn
in the sighting's disguise beside it (tick what you see in the sighting: glasses, a hat, a beard,
a hair colour, ...), so you can judge the match by eye. A suspect below the recogniser's threshold
is not a match."""

LATENT_INTRO = """How a VAE organises what it learned, in two dimensions: the convolutional VAE of *Generative
Deep Learning with Keras*, ch. 8 (z = 2), trained on Fashion-MNIST. Each dot is a test image's
code, coloured by its class; move the point (click or drag over the plane, or move the sliders) and the decoder
draws what lies there, beside it. Below, the book's figure: decodes over a 15 x 15 grid of the plane, at
the normal distribution's quantiles 0.05 .. 0.95."""

NO_LATENT = "*No 2-D model could be loaded (see the server's log).*"

COMPOSE_LINE = ("A witness's memory, no photo? Describe the person, then pick and breed faces until one looks "
                "like them. <span class='note'>Drawn by a model of drawn faces: a likeness, never evidence.</span>")

COMPOSE_INTRO = """Answer what you remember (leave the rest at *Not sure*) and press Start. On each screen,
click the one to four faces most like the person (optionally say which is the best) and press
**Breed**: the next screen is bred from your picks, and the composite is what they agree on. Most
witnesses need about 8 screens. Then refine it with the sliders, see it in disguise, or match it
against suspects."""

COMPOSE_WAITING = ("Describe the person (beside this; on a phone, below) and press **Start**: the first screen "
                   "of faces appears here.")

NO_FACE_SPACE = ("The Compose tab needs the description's face space, face_space.safetensors, beside the "
                 "weights: python -m train.compose fit --model WEIGHTS --data DATA writes it.")

COMPOSITE_NOTICE = "The witness's composite (drawn by the model): add or remove a disguise with the sliders."


def compose_status(composite) -> str:
    """Where the witness is: the screen, the description, what to do next."""
    g = composite.generation
    picked = len(composite.picked)
    what = ("pick the one to four faces most like the person, then Breed" if g == 1 else
            f"face 1 is your best so far, face 2 what your {picked} screen{'s' if picked > 1 else ''} of picks agree on")
    left = MAX_GENERATIONS - g
    limit = f" ({left} screens left)" if left <= 5 else ""
    return (f"**Screen {g}**{limit}: {what}. <span class='note'>Described: "
            f"{describe(composite.description)}</span>")
