"""WCAG AA contrast (4.5:1 for text) of herald.css in both colour schemes:
every status pill, every link, every kind of text on every surface it sits
on. The stylesheet is read as the browser would pick its colours: the light
:root variables, then the dark ones from @media (prefers-color-scheme:
dark) over them, var() resolved; ratios by WCAG 2.x relative luminance.
No browser needed."""

import re

import pytest

from builds import constants as C
from tests.support import ROOT

CSS = (ROOT / "static" / "herald" / "herald.css").read_text()
AA = 4.5


def without_comments(css):
    return re.sub(r"/\*.*?\*/", "", css, flags=re.S)


def declarations(block):
    """{name: value} of the `--name: value;` declarations in a block."""
    return {m[1]: m[2].strip() for m in re.finditer(r"(--[\w-]+)\s*:\s*([^;]+);", block)}


def rule(css, selector, default=None):
    """The declarations of the first rule whose selector list holds `selector`."""
    for m in re.finditer(r"([^{}]+)\{([^{}]*)\}", css):
        if selector in (s.strip() for s in m[1].split(",")):
            return dict(
                (name.strip(), value.strip())
                for name, _, value in (d.partition(":") for d in m[2].split(";") if ":" in d)
            )
    assert default is not None, f"herald.css has no rule for {selector}"
    return default


def schemes(css):
    """{"light": variables, "dark": variables}, as each scheme sees them."""
    css = without_comments(css)
    light = declarations(re.search(r"(?:^|\})\s*:root\s*\{([^}]*)\}", css)[1])
    dark_media = re.search(r"@media\s*\(\s*prefers-color-scheme:\s*dark\s*\)\s*\{\s*:root\s*\{([^}]*)\}", css)
    assert dark_media, "herald.css has no @media (prefers-color-scheme: dark) { :root { … } }"
    return {"light": light, "dark": {**light, **declarations(dark_media[1])}}


def resolve(value, variables, depth=0):
    assert depth < 10, f"var() loop at {value}"
    m = re.fullmatch(r"var\(\s*(--[\w-]+)\s*(?:,\s*(.+))?\)", value.strip())
    if not m:
        return value.strip()
    if m[1] in variables:
        return resolve(variables[m[1]], variables, depth + 1)
    assert m[2], f"{m[1]} is not defined"
    return resolve(m[2], variables, depth + 1)


def rgb(colour):
    """(r, g, b) 0–255 of an opaque colour in the formats herald.css uses."""
    named = {"#fff": "#ffffff", "white": "#ffffff", "#000": "#000000", "black": "#000000"}
    colour = named.get(colour.lower(), colour.lower())
    m = re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", colour)
    if m:
        h = m[1] if len(m[1]) == 6 else "".join(c * 2 for c in m[1])
        return tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))
    m = re.fullmatch(r"rgb\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)\s*\)", colour)
    assert m, f"not an opaque colour this test reads: {colour}"
    return tuple(int(x) for x in m.groups())


def luminance(colour):
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a, b):
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_formula_gives_wcags_own_figures():
    assert ratio("#000", "#fff") == pytest.approx(21)
    assert ratio("#777777", "#fff") == pytest.approx(4.48, abs=0.01)  # famously just under AA
    assert ratio("rgb(118, 118, 118)", "#ffffff") == pytest.approx(4.54, abs=0.01)


# (text, background) pairs, as the stylesheet sets them; each must hold in
# both schemes.
TEXT_ON = {
    "--fg": ["--bg", "--card", "--subtle", "--hover", "--input-bg", "--note-bg", "--warn-bg", "--danger-bg"]
    + ["--purple-bg"],
    "--muted": ["--bg", "--card", "--subtle"],
    "--accent": ["--bg", "--card", "--subtle", "--note-bg"],  # links
    "--failed-text": ["--bg", "--card", "--danger-bg"],
    "--errored-text": ["--bg", "--card"],
    "--success-text": ["--bg", "--card", "--done-bg"],
    "--header-fg": ["--header-bg"],
    "--on-status": ["--errored"],  # .flaky-tag
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_pill_link_and_text_colour_meets_aa(scheme):
    variables = schemes(CSS)[scheme]
    css = without_comments(CSS)
    low = []

    def check(what, fg, bg):
        fg, bg = resolve(fg, variables), resolve(bg, variables)
        if ratio(fg, bg) < AA:
            low.append(f"{what}: {fg} on {bg} is {ratio(fg, bg):.2f}:1")

    # Each status pill as the stylesheet draws it: .status's text colour on
    # .status-<name>'s background (.status's own for a status without one),
    # for every status there is.
    pill = rule(css, ".status")
    for status in (*C.ACTIVE_STATUSES, *C.FINAL_STATUSES):
        check(f"the {status} pill", pill["color"], rule(css, f".status-{status}", pill)["background"])
    check("a link", rule(css, "a")["color"], "var(--bg)")
    check("the header's links", rule(css, "header.top a")["color"], rule(css, "header.top")["background"])
    check("button text", rule(css, "button")["color"], rule(css, "button")["background"])
    for fg, backgrounds in TEXT_ON.items():
        for bg in backgrounds:
            check(f"{fg} on {bg}", f"var({fg})", f"var({bg})")
    assert not low, f"below WCAG AA (4.5:1) in the {scheme} scheme:\n" + "\n".join(low)


def test_the_dark_scheme_is_dark_and_declared():
    light, dark = schemes(CSS)["light"], schemes(CSS)["dark"]
    assert luminance(resolve("var(--bg)", dark)) < 0.05 < luminance(resolve("var(--bg)", light))
    assert re.search(r":root\s*\{[^}]*color-scheme:\s*light dark", without_comments(CSS))


def test_focus_stays_visible_and_motion_can_be_turned_off():
    css = without_comments(CSS)
    assert "outline: none" not in css and "outline:none" not in css and "outline: 0" not in css
    assert rule(css, ":focus-visible")["outline"].startswith("2px solid")
    reduced = re.search(r"@media\s*\(\s*prefers-reduced-motion:\s*reduce\s*\)\s*\{(.*?)\}\s*\}", css, re.S)
    assert reduced and "animation: none" in reduced[1] and "transition: none" in reduced[1]
