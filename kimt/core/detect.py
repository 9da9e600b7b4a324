"""TLS "Detect" (security `auto`, IceWarp's option): which encryption a server speaks.

For an admin who doesn't know whether the old server's IMAP is on 993 or
143. Implicit TLS is tried first (port 993, or the port given), then
STARTTLS (port 143, or the same port given); the first that works is used.
Plain text is never a candidate: a server that speaks neither is an error
that says to choose `none` if that is really meant, so a man in the middle
who blocks TLS gets no password. Certificates are checked exactly as for a
chosen method, a pinned fingerprint included, and a refused certificate ends
the detection at once: the server does speak TLS, the next candidate would
show the same certificate, and going around a refusal is what someone in
between would want. A run detects once, in the engine's preflight, and
hands every worker the decided settings: nothing is probed per connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .errors import CertificateError, ConnectError
from .servers import AUTO, DEFAULT_PORTS, ServerConfig, close_quietly, open_connection

log = logging.getLogger("kimt.detect")

METHOD_WORDS = {"ssl": "SSL/TLS", "starttls": "STARTTLS"}


def method_words(config: ServerConfig) -> str:
    """'STARTTLS on port 143'."""
    return f"{METHOD_WORDS[config.security]} on port {config.effective_port}"


@dataclass(frozen=True)
class Detected:
    config: ServerConfig  # security and port decided
    tried: tuple[str, ...] = ()  # the candidates that did not work first, each with why

    def words(self) -> str:
        """What was found, and what was tried before it, for the Report."""
        text = f"detected {method_words(self.config)}"
        return text + (f" (tried first: {'; '.join(self.tried)})" if self.tried else "")


def _fact(error: ConnectError) -> str:
    """What went wrong with a candidate, without the advice that follows it for a method
    chosen by hand ("Choose STARTTLS …", "refusing to continue …"): its first clause."""
    text = str(error)
    for end in (". ", "; "):
        text = text.split(end, 1)[0]
    return text


def candidates(config: ServerConfig) -> list[ServerConfig]:
    """Implicit TLS, then STARTTLS: on 993 and 143, or both on the port given."""
    return [config.with_(security=method, port=config.port or DEFAULT_PORTS[method])
            for method in ("ssl", "starttls")]


def detect(config: ServerConfig) -> Detected:
    """Connect with each candidate until one works (no login); `config` as it is when it
    is not `auto`. Raises CertificateError (final) or ConnectError (nothing worked)."""
    if config.security != AUTO:
        return Detected(config)
    failed: list[str] = []
    for candidate in candidates(config):
        try:
            close_quietly(open_connection(candidate))
        except CertificateError:
            raise  # it speaks TLS, and its certificate is refused: never worked around
        except ConnectError as e:
            log.debug("%s %s: %s does not work: %s", config.role, config.host,
                      method_words(candidate), e)
            failed.append(f"{method_words(candidate)}: {_fact(e)}")
            continue
        found = Detected(candidate, tuple(failed))
        log.debug("%s %s: %s", config.role, config.host, found.words())
        return found
    raise ConnectError(
        f"{config.host} speaks neither SSL/TLS nor STARTTLS ({'; '.join(failed)}). KIMT "
        "never falls back to plain text on its own: choose no encryption ('none') if you "
        "really mean that")
