"""Email over SMTP (spec §9.3): a plain part (the default body of §8.4) and an HTML card.

Security follows detectkit: `use_tls: true` (default) is STARTTLS, `use_tls: false` is implicit
TLS (SMTPS). Our `security` parameter (`starttls`, `ssl`, `none`) says the same explicitly and
adds `none` for a local relay; it replaces `use_tls` when given.

Deliberate deviation: detectkit titles every email with `subject_template`, whose default reads
"🔴 … Alert: …" even for a recovery. Without a configured `subject_template` we use the
message's own title (identical for an anomaly); a configured one applies to every kind.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any, ClassVar, Mapping

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from detectkit_dagster.channels.facts import ERROR_LEAD, NO_DATA_LEAD
from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, in_range, message_template, not_empty, str_list
from detectkit_dagster.channels.render import (
    check_template, error_detail, mentions_email, message_text, safe_format,
)
from detectkit_dagster.channels.deadline import DeadlineExceeded, socket_timeout, track, within
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, DeliveryError, excerpt, rendering

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
    "template": Param((str,), check=message_template),
    **TIMEOUTS,
}


# -- HTML card ---------------------------------------------------------------------------------

COLORS = {"clay": CLAY, "ink": INK, "paper": PAPER, "surface": SURFACE, "border": BORDER, "muted": MUTED}


@functools.cache
def _card_template() -> jinja2.Template:
    env = SandboxedEnvironment(loader=jinja2.PackageLoader(__package__, ""), autoescape=True,
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("email.html")


@dataclass(frozen=True)
class Card:
    """What the card shows for a message: text only; the template lays it out."""

    lead: str
    stats: list[tuple[str, str]]
    description: str | None = None
    rule: str | None = None
    box: tuple[str, str] | None = None  # (label, preformatted text)
    box_first: bool = False             # above the stats rather than below


def card_content(message: AlertMessage, c: Mapping[str, Any]) -> Card:
    kind = message.kind
    if kind == "no_data":
        return Card(NO_DATA_LEAD, [("Value", "\u2014"), ("Expected at", c["timestamp"])])
    if kind == "error":
        return Card(ERROR_LEAD, [("Detected at", c["timestamp"])], box=("Error", error_detail(message)), box_first=True)
    stats = [("Value", c["value_display"]), ("Expected", c["expected_range"])]
    last = "Latest" if kind == "anomaly" else "Cleared"
    when = ([("Started", c["started_display"]), (last, c["timestamp"])] if message.onset is not None
            else [("Detected at" if kind == "anomaly" else "Cleared at", c["timestamp"])])
    if kind == "anomaly":
        stats += [("Severity", f"{message.severity:.2f}"),
                  ("Quorum", c["quorum_display"]), *when]
    else:
        stats += [*when, ("Detector", c["detector_name"])]
    box = (c["detector_name"], message.detector_params) if kind == "anomaly" and message.detector_params else None
    return Card(c["anomaly_lead" if kind == "anomaly" else "recovery_lead"], stats, message.description,
                c["rule_display"], box)


def html_card(message: AlertMessage, plain: str, custom: bool) -> str:
    """The HTML part: the card of the message, or the custom text when a template made it."""
    people = mentions_email(message.mentions)
    return _card_template().render(
        colors=COLORS, status=message.status, project=message.project, metric=message.metric,
        plain=plain if custom else None, card=card_content(message, message.context(people)),
        dashboard_url=message.dashboard_url, links=list(message.links), people=people,
        help_url=message.help_url, event_id=message.event_id)


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
            if message.test and "[TEST]" not in text:
                text = f"[TEST] {text}"
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
        try:
            within(self.timeout, lambda: self._deliver(mail))
        except DeadlineExceeded:
            raise DeliveryError(f"{where}: timed out: {server} did not finish within {self.timeout:g} s") from None
        except smtplib.SMTPAuthenticationError as exc:
            # The reply to AUTH may echo the encoded credentials: show only the code.
            raise DeliveryError(f"{where}: SMTP login to {server} failed ({exc.smtp_code})",
                                retryable=_transient(exc.smtp_code)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(f"{to} ({code})" for to, (code, _) in exc.recipients.items())
            retry = all(_transient(code) for code, _ in exc.recipients.values())
            raise DeliveryError(f"{where}: {server} refused the recipients {refused}", retryable=retry) from None
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error).encode()
            raise DeliveryError(f"{where}: {server} answered {exc.smtp_code}: {excerpt(reply)}",
                                retryable=_transient(exc.smtp_code)) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"{where}: the certificate of {server} does not verify: {exc.verify_message}",
                                retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            cause = (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
            raise DeliveryError(f"{where}: could not send through {server}: {cause}") from None

    def _deliver(self, mail: EmailMessage) -> None:
        with self._connect() as smtp:
            if self.smtp_username and self.smtp_password:
                smtp.login(self.smtp_username, self.smtp_password)
            smtp.send_message(mail, from_addr=self.from_email, to_addrs=list(self.to_emails))

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return _TrackedSMTPS(self.smtp_host, self.smtp_port, timeout=socket_timeout(self.timeout),
                                 context=ssl.create_default_context())
        smtp = _TrackedSMTP(self.smtp_host, self.smtp_port, timeout=socket_timeout(self.timeout))
        try:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
        return smtp


def _transient(code: int) -> bool:
    """SMTP's own rule: 4xx replies are temporary, 5xx permanent."""
    return 400 <= code < 500


class _TrackedSMTP(smtplib.SMTP):
    """Registers its socket with the delivery deadline as soon as it connects."""

    def _get_socket(self, host, port, timeout):  # type: ignore[override]
        return track(super()._get_socket(host, port, timeout))


class _TrackedSMTPS(smtplib.SMTP_SSL, _TrackedSMTP):
    """Implicit TLS; the plain socket is registered before the TLS handshake."""
