"""The page's words: results formatted as the Markdown the app shows (and the start-up line)."""

from __future__ import annotations

from pathlib import Path

from ..identity.match import MatchResult


def identity_line(result: dict | None) -> str:
    """The line under the pictures: is the edited face still this person? ("" without a verdict)."""
    if result is None:
        return ""
    verdict = "**still recognised**" if result["recognised"] else "**not recognised**"
    return (f"Identity: cosine similarity {result['similarity']:.2f} to the uploaded face: {verdict} "
            f"(the identity model's threshold is {result['threshold']:.2f} at {result['far']:.0%} "
            f"false accepts)")


def match_table(result: MatchResult) -> str:
    """The ranking as a Markdown table under its summary."""
    rows = [f"| {k} | {m.name} | {m.similarity:.3f} | {'yes' if m.recognised else 'no'} | "
            f"{', '.join(m.difference_labels) or '-'} |" for k, m in enumerate(result.suspects, 1)]
    return "\n".join([f"**{result.summary}**", "",
                      "| rank | suspect | similarity | recognised | sighting differs in |",
                      "| ---: | --- | ---: | :---: | --- |", *rows])


def live_summary(decoder: Path | None, decoder_problem: str, runtime: str) -> str:
    """Whether the page decodes in the browser, and from where (the server's start-up line)."""
    if decoder is None:
        return f"no ({decoder_problem}); every edit goes through the server"
    if runtime == "off":
        return "no (DISGUISE_RUNTIME=off)"
    source = ("web/node_modules" if runtime == "local"
              else "the CDN (run `npm ci --prefix web` to serve it from here)")
    return f"yes, {decoder.name} with onnxruntime-web from {source}"


INTRO = """# disguise
Upload a face and move the sliders to see it with an attribute added (right) or removed (left):
glasses, a hat, a beard, another hair colour, make-up, age. Built to predict how a wanted person
may look in disguise. Your photo and the pictures made from it stay in this session only and are
deleted when it ends."""

MATCH_INTRO = """Who is this? Upload a still of a disguised person and the suspects' photos: they are
ranked by the identity model's similarity, each with the attributes in which the sighting differs
(glasses, hat, beard, hair colour, ...) and the suspect drawn in that disguise, beside the
sighting, so you can judge the match by eye. A suspect below the identity model's threshold is
not a match."""

LATENT_INTRO = """How a VAE organises what it learned, in two dimensions: the convolutional VAE of *Generative
Deep Learning with Keras*, ch. 8 (z = 2), trained on Fashion-MNIST. Each dot is a test image's
code, coloured by its class; move the point (click the plane, or drag the sliders) and the decoder
draws what lies there. Beside it, the book's figure: decodes over a 15 x 15 grid of the plane, at
the normal distribution's quantiles 0.05 .. 0.95."""

NO_LATENT = "*No 2-D model could be loaded (see the server's log).*"
