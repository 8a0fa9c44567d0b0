"""An invoice as a PDF (fpdf2, pure Python): `invoice_pdf(invoice) -> bytes`.

What it shows: the seller (INVOICE_SELLER_NAME, INVOICE_SELLER_ADDRESS), the invoice's number,
status, issue and payment dates, the customer workspace, the plan and period, the amount, the
payment method and reference. Labels are in the workspace's language.

Unicode: text is written with the DejaVu Sans font of the Debian package fonts-dejavu-core
(INVOICE_FONT, INVOICE_FONT_BOLD; Cyrillic, Greek, Latin, Arabic letters...). Without those
files the PDF uses a core font and every character it cannot hold is transliterated (accents
dropped) or becomes "?", so a workspace named in Russian or Arabic never breaks an invoice.
Right-to-left languages (Arabic...): fpdf2 shapes them (joined letters, the Unicode bidi
order of mixed text) with the uharfbuzz package, a requirement; the page is then laid out
from the right (labels on the right, values to their left). Where uharfbuzz or the fonts are
missing, such a workspace gets its invoice labels in English (its own values as stored).
"""
from __future__ import annotations

import os
import unicodedata

from flask import current_app
from flask_babel import force_locale, gettext
from fpdf import FPDF

from app.billing_mail import date_words, language_of
from app.labels import code_label
from app.money import money_text

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
#: languages written right to left, with their script for the shaping engine
RIGHT_TO_LEFT = {"ar": "arab", "fa": "arab", "ur": "arab", "he": "hebr"}
LABEL_WIDTH = 55


def shaping_available() -> bool:
    """Whether fpdf2's text shaping engine (the uharfbuzz package) can be loaded."""
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:
        return False
    return True


def _fonts() -> tuple[str, str] | None:
    regular = current_app.config.get("INVOICE_FONT") or DEJAVU
    bold = current_app.config.get("INVOICE_FONT_BOLD") or DEJAVU_BOLD
    if os.path.isfile(regular) and os.path.isfile(bold):
        return regular, bold
    return None


def latin1(text: str) -> str:
    """`text` as a core PDF font can hold it: accents dropped, other letters "?"."""
    out = []
    for char in str(text or ""):
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
            out.append(plain or "?")
    return "".join(out)


class _Writer:
    """Lines and label/value rows, left to right or, for `rtl_script`, shaped and from the
    right."""

    def __init__(self, language: str, rtl_script: str | None = None) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()
        fonts = _fonts()
        self.unicode = fonts is not None
        if fonts:
            self.pdf.add_font("DejaVu", "", fonts[0])
            self.pdf.add_font("DejaVu", "B", fonts[1])
            self.family = "DejaVu"
        else:
            self.family = "Helvetica"
        self.rtl = bool(rtl_script and self.unicode)
        if self.rtl:
            self.pdf.set_text_shaping(use_shaping_engine=True, direction="rtl",
                                      script=rtl_script, language=language)
        self.align = "R" if self.rtl else "L"

    def text(self, value) -> str:
        return str(value or "") if self.unicode else latin1(value)

    def line(self, text, size=10, bold=False, height=6) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(0, height, self.text(text), align=self.align, new_x="LMARGIN",
                            new_y="NEXT")

    def row(self, label, value) -> None:
        value = self.text(value or "—")
        if self.rtl:  # the value (one line) on the left, its label at the right margin
            self.pdf.set_font(self.family, "", 10)
            self.pdf.cell(self.pdf.epw - LABEL_WIDTH, 7, value, align="R")
            self.pdf.set_font(self.family, "B", 10)
            self.pdf.cell(LABEL_WIDTH, 7, self.text(label), align="R", new_x="LMARGIN",
                          new_y="NEXT")
            return
        self.pdf.set_font(self.family, "B", 10)
        self.pdf.cell(LABEL_WIDTH, 7, self.text(label))
        self.pdf.set_font(self.family, "", 10)
        self.pdf.multi_cell(0, 7, value, new_x="LMARGIN", new_y="NEXT")


def _language(invoice) -> tuple[str, str | None]:
    """The invoice's language and, when it is written right to left, its script; English
    when such a language cannot be shaped here."""
    language = language_of(invoice.workspace)
    script = RIGHT_TO_LEFT.get(language)
    if script is None:
        return language, None
    if shaping_available() and _fonts() is not None:
        return language, script
    return "en", None


def invoice_pdf(invoice) -> bytes:
    """The invoice as PDF bytes (see the module's docstring for its content)."""
    language, rtl_script = _language(invoice)
    config = current_app.config
    writer = _Writer(language, rtl_script)
    writer.pdf.set_title(invoice.number)  # also findable in the file as plain text
    writer.pdf.set_author(writer.text(config.get("INVOICE_SELLER_NAME") or "Relaydesk"))
    with force_locale(language):
        writer.line(config.get("INVOICE_SELLER_NAME") or config.get("APP_NAME", "Relaydesk"),
                    size=14, bold=True, height=8)
        address = (config.get("INVOICE_SELLER_ADDRESS") or "").replace("\\n", "\n")
        for part in address.splitlines():
            if part.strip():
                writer.line(part.strip())
        writer.pdf.ln(6)
        writer.line(gettext("Invoice %(number)s", number=invoice.number), size=16, bold=True,
                    height=9)
        writer.pdf.ln(3)
        period = ""
        if invoice.period_start or invoice.period_end:
            period = gettext("%(start)s to %(end)s",
                             start=date_words(invoice.period_start, language) or "—",
                             end=date_words(invoice.period_end, language) or "—")
        workspace = invoice.workspace
        rows = [
            (gettext("Status"), code_label("invoice_status", invoice.status)),
            (gettext("Issued"), date_words(invoice.issued_at, language)),
            (gettext("Paid"), date_words(invoice.paid_at, language)),
            (gettext("Customer"), f"{workspace.name} ({workspace.slug})"),
            (gettext("Plan"), invoice.plan.name if invoice.plan else invoice.description),
            (gettext("Description"), invoice.description),
            (gettext("Period"), period),
            (gettext("Amount"), money_text(invoice.amount_cents, invoice.currency)),
            (gettext("Payment method"), code_label("payment_method", invoice.payment_method)),
            (gettext("Payment reference"), invoice.payment_reference),
        ]
        for label, value in rows:
            writer.row(label, str(value) if value is not None else "")
        writer.pdf.ln(6)
        writer.line(gettext("Total: %(amount)s", amount=money_text(invoice.amount_cents,
                                                                   invoice.currency)),
                    size=12, bold=True)
    return bytes(writer.pdf.output())
