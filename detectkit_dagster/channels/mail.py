"""Email over SMTP (spec §9.3): a plain part (the default body of §8.4) and an HTML card.

Security follows detectkit: `use_tls: true` (default) is STARTTLS, `use_tls: false` is implicit
TLS (SMTPS). Our `security` parameter (`starttls`, `ssl`, `none`) says the same explicitly and
adds `none` for a local relay; it replaces `use_tls` when given.

Deliberate deviation: detectkit titles every email with `subject_template`, whose default reads
"🔴 … Alert: …" even for a recovery. Without a configured `subject_template` we use the
message's own title (identical for an anomaly); a configured one applies to every kind.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any, ClassVar

from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, in_range, not_empty, str_list
from detectkit_dagster.channels.render import (
    check_template, error_detail, mentions_email, message_text, safe_format,
)
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, DeliveryError, excerpt, redact, rendering

SUBJECT_NAMES = ("metric_name", "project_name", "project_name_prefix")
SECURITY = ("starttls", "ssl", "none")
CLAY, INK, PAPER, SURFACE, BORDER, MUTED = "#d15b36", "#1b1916", "#f5f1e8", "#fbf9f3", "#e6e0d4", "#6b655c"


def _subject_ok(value: str) -> str | None:
    problem = check_template(value, SUBJECT_NAMES)
    return None if problem is None else f"{problem} (allowed: {', '.join(SUBJECT_NAMES)})"


def _address(value: str) -> str | None:
    return None if "@" in value and not any(ch in value for ch in "\r\n<>, ") else "must be one email address"


def recipients(value: list | str) -> list[str]:
    """`to_emails` as a list; a single address may be given as text."""
    return [value] if isinstance(value, str) else list(value)


def check_recipients(value: list | str) -> str | None:
    listed = recipients(value)
    return str_list(listed) or next((f"entry {v!r} {p}" for v in listed if (p := _address(v))), None)


PARAMS = {
    "smtp_host": Param((str,), required=True, check=not_empty),
    "smtp_port": Param((int,), required=True, check=in_range(1, 65535)),
    "from_email": Param((str,), required=True, check=_address),
    "to_emails": Param((list, str), required=True, check=check_recipients),
    "smtp_username": Param((str,)),
    "smtp_password": Param((str,), secret=True),
    "use_tls": Param((bool,), default=True),
    "security": Param((str,), choices=SECURITY),
    "subject_template": Param((str,), check=_subject_ok),
    "from_name": Param((str,), default="detectkit"),
    "template": Param((str,)),
    **TIMEOUTS,
}


# -- HTML card ---------------------------------------------------------------------------------


def _cell(label: str, value: str) -> str:
    return (f'<td style="padding:8px 12px;width:50%;vertical-align:top">'
            f'<div style="font-size:11px;color:{MUTED};text-transform:uppercase;letter-spacing:.04em">'
            f'{html.escape(label)}</div>'
            f'<div style="font-size:15px;color:{INK};font-family:Menlo,Consolas,monospace">'
            f'{html.escape(value)}</div></td>')


def _grid(stats: list[tuple[str, str]]) -> str:
    """Two stats per row; an odd count pads with an empty cell."""
    cells = [_cell(label, value) for label, value in stats]
    if len(cells) % 2:
        cells.append('<td style="width:50%"></td>')
    rows = "".join(f"<tr>{cells[i]}{cells[i + 1]}</tr>" for i in range(0, len(cells), 2))
    return f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0">{rows}</table>'


def _para(text: str, style: str = "") -> str:
    return f'<p style="margin:0 0 12px;color:{INK};font-size:14px;line-height:1.5;{style}">{html.escape(text)}</p>'


def _box(label: str, text: str) -> str:
    return (f'<div style="margin:12px 0;padding:10px 12px;background:{PAPER};border:1px solid {BORDER};'
            f'border-radius:6px"><div style="font-size:11px;color:{MUTED};margin-bottom:4px">{html.escape(label)}'
            f'</div><pre style="margin:0;white-space:pre-wrap;font-size:12px;color:{INK}">{html.escape(text)}</pre></div>')


def _card_body(message: AlertMessage, c: dict[str, Any]) -> str:
    kind = message.kind
    parts: list[str] = []
    if kind in ("anomaly", "recovery"):
        if message.description:
            parts.append(_para(message.description, f"color:{MUTED}"))
        parts.append(_para(c["anomaly_lead" if kind == "anomaly" else "recovery_lead"]))
        parts.append(f'<p style="margin:0 0 12px"><span style="display:inline-block;padding:3px 8px;'
                     f'border:1px solid {BORDER};border-radius:10px;font-size:12px;color:{INK};'
                     f'font-family:Menlo,Consolas,monospace">Rule {html.escape(c["rule_display"])}</span></p>')
        stats = [("Value", c["value_display"]), ("Expected", c["expected_range"])]
        last = "Latest" if kind == "anomaly" else "Cleared"
        when = ([("Started", c["started_display"]), (last, c["timestamp"])] if message.onset is not None
                else [("Detected at" if kind == "anomaly" else "Cleared at", c["timestamp"])])
        if kind == "anomaly":
            stats += [("Severity", f"{message.severity:.2f}"),
                      ("Quorum", c["quorum_display"]), *when]
        else:
            stats += [*when, ("Detector", c["detector_name"])]
        parts.append(_grid(stats))
        if kind == "anomaly" and message.detector_params:
            parts.append(_box(c["detector_name"], message.detector_params))
    elif kind == "no_data":
        parts += [_para("Query returned no datapoint for the latest expected interval."),
                  _grid([("Value", "\u2014"), ("Expected at", c["timestamp"])])]
    else:
        parts += [_para("The detectkit pipeline failed for this metric."), _box("Error", error_detail(message)),
                  _grid([("Detected at", c["timestamp"])])]
    if message.dashboard_url:
        parts.append(f'<p style="margin:16px 0 8px"><a href="{html.escape(message.dashboard_url, quote=True)}" '
                     f'style="display:inline-block;padding:8px 14px;background:{CLAY};color:#ffffff;'
                     f'text-decoration:none;border-radius:6px;font-size:14px">Open dashboard \u2192</a></p>')
    if message.links:
        links = " \u00b7 ".join(f'<a href="{html.escape(url, quote=True)}" style="color:{CLAY}">'
                                f'{html.escape(label)}</a>' for label, url in message.links)
        parts.append(f'<p style="margin:8px 0;font-size:13px">{links}</p>')
    return "".join(parts)


def _footer(message: AlertMessage) -> str:
    bits = ["Sent by detectkit"]
    if message.project:
        bits.append(html.escape(message.project))
    people = mentions_email(message.mentions)
    if people:
        bits.append(html.escape(people))
    if message.help_url:
        bits.append(f'<a href="{html.escape(message.help_url, quote=True)}" style="color:{MUTED}">'
                    f'How to read this alert \u2192</a>')
    bits.append(f"event_id {html.escape(message.event_id)}")
    return (f'<tr><td style="padding:14px 24px;border-top:1px solid {BORDER};font-size:12px;color:{MUTED}">'
            f'{" &middot; ".join(bits)}</td></tr>')


def html_card(message: AlertMessage, plain: str, custom: bool) -> str:
    """A table-based card with inline CSS (mail clients ignore style sheets)."""
    c = message.context(mentions_email(message.mentions))
    status = message.status
    body = (f'<pre style="margin:0;white-space:pre-wrap;font-size:13px;color:{INK}">{html.escape(plain)}</pre>'
            if custom else _card_body(message, c))
    eyebrow = (f'<div style="font-size:12px;color:{MUTED};text-transform:uppercase;letter-spacing:.06em">'
               f'{html.escape(message.project)}</div>' if message.project else "")
    return (
        f'<!DOCTYPE html><html><body style="margin:0;padding:24px 0;background:{PAPER};'
        f'font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif">'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">'
        f'<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;'
        f'background:{SURFACE};border:1px solid {BORDER};border-radius:8px">'
        f'<tr><td style="height:4px;background:{status.color};font-size:0;line-height:0">&nbsp;</td></tr>'
        f'<tr><td style="padding:16px 24px 0"><span style="color:{CLAY};font-size:14px">&#9670;</span> '
        f'<span style="font-weight:600;color:{INK}">detectkit</span>'
        f'<span style="float:right;padding:2px 8px;border-radius:10px;background:{status.color};color:#ffffff;'
        f'font-size:11px;font-weight:600">{html.escape(status.word.upper())}</span></td></tr>'
        f'<tr><td style="padding:12px 24px 4px">{eyebrow}'
        f'<h1 style="margin:4px 0 12px;font-size:20px;color:{INK}">{html.escape(message.metric)}</h1></td></tr>'
        f'<tr><td style="padding:0 24px 16px">{body}</td></tr>'
        f'{_footer(message)}</table></td></tr></table></body></html>'
    )


# -- channel -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailChannel:
    name: str
    smtp_host: str
    smtp_port: int
    from_email: str
    to_emails: tuple[str, ...]
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    security: str = "starttls"
    subject_template: str | None = None
    from_name: str = "detectkit"
    template: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    type: ClassVar[str] = "email"
    PARAMS: ClassVar[dict[str, Param]] = PARAMS

    def subject(self, message: AlertMessage) -> str:
        if self.subject_template is None:
            text = message.title
        else:
            context = message.context()
            text = safe_format(self.subject_template, {k: context[k] for k in SUBJECT_NAMES})
        return text.replace("\r", " ").replace("\n", " ")

    def build(self, message: AlertMessage) -> EmailMessage:
        mentions = mentions_email(message.mentions)
        plain = message_text(message, mentions, template=self.template)
        custom = (message.template if message.template is not None else self.template) is not None
        mail = EmailMessage()
        mail["Subject"] = self.subject(message)
        mail["From"] = formataddr((self.from_name, self.from_email))
        mail["To"] = ", ".join(self.to_emails)
        mail["Date"] = formatdate(usegmt=True)
        # The same event always gets the same Message-ID, so mail systems can drop a repeat.
        domain = self.from_email.rsplit("@", 1)[-1]
        mail["Message-ID"] = f"<detectkit.{message.event_id}@{domain}>"
        mail["X-Detectkit-Event-Id"] = message.event_id
        mail["X-Detectkit-Event"] = message.kind
        mail.set_content(plain, cte="quoted-printable")
        mail.add_alternative(html_card(message, plain, custom), subtype="html", cte="quoted-printable")
        return mail

    def send(self, message: AlertMessage) -> None:
        where = f"email channel {self.name!r}"
        with rendering(where):
            mail = self.build(message)
        server = f"{self.smtp_host}:{self.smtp_port}"
        secrets = [self.smtp_password]
        try:
            with self._connect() as smtp:
                if self.smtp_username and self.smtp_password:
                    smtp.login(self.smtp_username, self.smtp_password)
                smtp.send_message(mail, from_addr=self.from_email, to_addrs=list(self.to_emails))
        except smtplib.SMTPAuthenticationError as exc:
            # The reply to AUTH may echo the encoded credentials: show only the code.
            raise DeliveryError(f"{where}: SMTP login to {server} failed ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(f"{to} ({code})" for to, (code, _) in exc.recipients.items())
            raise DeliveryError(f"{where}: {server} refused the recipients {refused}") from None
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error).encode()
            raise DeliveryError(f"{where}: {server} answered {exc.smtp_code}: {excerpt(reply, secrets)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            cause = redact(str(exc), secrets) or type(exc).__name__
            raise DeliveryError(f"{where}: could not send through {server}: {cause}") from None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.smtp_host, self.smtp_port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
        return smtp

