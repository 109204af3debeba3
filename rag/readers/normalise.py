"""Field values as the rest of the library wants them, whatever the file wrote.

Abstracts arrive with leftover HTML (arXiv, PubMed's SGML names) and LaTeX (`$\\alpha$`, `\\sim`),
and dates in a dozen forms; every reader passes its fields through here so that the same paper
reads, hashes and matches the same whichever file it came from.
"""

from __future__ import annotations

import datetime
import email.utils
import html
import re
import unicodedata


def normalise_text(text: str) -> str:
    """NFC, leftover HTML/LaTeX made readable, whitespace runs collapsed to one space."""
    text = unicodedata.normalize("NFC", text)
    text = _strip_html(text)
    text = _strip_latex(text)
    return " ".join(text.split())


def as_text(value: object) -> str:
    """A field as a string; a missing or nested (dict, list) value is no text at all."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


_DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%Y/%m/%d")


def parse_date(value: object) -> str:
    """ISO date (or just year-month / year) from the common forms; "" when unsure."""
    text = as_text(value).strip()
    if not text:
        return ""
    if m := re.fullmatch(r"(\d{4})(-\d{2})?(-\d{2})?(?:[T ].*)?", text):
        try:
            if m.group(3):
                return datetime.date.fromisoformat(m.group(1) + m.group(2) + m.group(3)).isoformat()
            if m.group(2):
                return text[:7] if 1 <= int(m.group(2)[1:]) <= 12 else ""
        except ValueError:
            return ""
        return m.group(1)
    try:
        return email.utils.parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return ""


# --- HTML and LaTeX ------------------------------------------------------------------------------

_HTML_TAG = re.compile(
    r"</?(?:a|b|i|u|em|strong|sub|sup|p|br|span|div|code|small|font|li|ul|ol|h[1-6])(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)  # a whitelist: abstracts contain real angle brackets, e.g. ("go to location in <this picture>")
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
          "sigma tau upsilon phi chi psi omega").split()
_ISO_GREEK = dict(zip("a b g d e z ee th i k l m n x o p r s t u ph kh ps oh".split(), _GREEK))


def _greek(name: str, capital: bool = False) -> str:
    case = "CAPITAL" if capital else "SMALL"
    return unicodedata.lookup(f"GREEK {case} LETTER {name.replace('lambda', 'lamda')}")


_LATEX_SYMBOLS = {
    **{name: _greek(name) for name in _GREEK},
    **{name.capitalize(): _greek(name, capital=True) for name in _GREEK},
    "varepsilon": "ε", "vartheta": "ϑ", "varphi": "φ", "ell": "ℓ",
    "sim": "~", "times": "×", "pm": "±", "approx": "≈", "simeq": "≃", "propto": "∝", "infty": "∞",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "lesssim": "≲", "gtrsim": "≳", "neq": "≠",
    "to": "→", "rightarrow": "→", "leftarrow": "←", "cdot": "·", "circ": "°", "deg": "°",
    "odot": "⊙", "langle": "⟨", "rangle": "⟩",
    # font switches and sizing that only carry layout
    "rm": "", "bf": "", "it": "", "em": "", "tt": "", "sf": "", "left": "", "right": "",
}
_LATEX_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|texttt|textrm|textsc|emph|mathrm|mathbf|mathit|mathcal|mathbb|mathsf|"
    r"operatorname|boldsymbol|mbox)\s*\{([^{}]*)\}"
)
_LATEX_OLD_FONT = re.compile(r"\{\\(?:rm|bf|it|em|emph|tt|sf|sc|cal)\s+([^{}]*)\}")


def _strip_html(text: str) -> str:
    text = html.unescape(_HTML_TAG.sub("", text))
    return re.sub(r"&([A-Za-z]{1,2})gr;", _iso_greek, text)  # PubMed's SGML names, e.g. &bgr;


def _iso_greek(match: re.Match[str]) -> str:
    name = _ISO_GREEK.get(match.group(1).lower())
    return _greek(name, capital=match.group(1)[0].isupper()) if name else match.group(0)


def _strip_latex(text: str) -> str:
    """Known commands become symbols, wrappers keep their content, `$` delimiters go.

    Unknown commands (a paper's own macros such as `\\tool`) are left as they are.
    """
    text = re.sub(r"\^\{?\\circ\}?", "°", text)
    for pattern in (_LATEX_WRAPPER, _LATEX_OLD_FONT):
        while (unwrapped := pattern.sub(r"\1", text)) != text:
            text = unwrapped
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _LATEX_SYMBOLS.get(m.group(1), m.group(0)), text)
    text = re.sub(r"\\(?:[,;:!]|(?=\s))", " ", text)  # LaTeX spacing: "\,", "\ " (also before a line break)
    text = re.sub(r"(?<!\\)\$\$?(.+?)(?<!\\)\$\$?", r"\1", text, flags=re.DOTALL)
    text = re.sub(r"\\([%&_#$])", r"\1", text)
    # A page copy drops the backslashes: "3.72sim4.11times faster" (hf_page).
    text = re.sub(r"(?<=\d)sim(?=\d)", "~", text)
    return re.sub(r"(?<=\d)times\b", "×", text)
