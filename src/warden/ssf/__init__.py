"""Shared Signals (OpenID SSF 1.0, CAEP 1.0): Warden as a transmitter and as a receiver.

Transmitter (this helper's modules): ``set`` (RFC 8417 Security Event Tokens), ``events``
(CAEP event builders), ``streams`` + ``store`` (stream management), ``delivery`` (the outbox:
RFC 8935 push, RFC 8936 poll), ``transmitter`` (the facade the rest of Warden calls) and
``api`` (HTTP). The receiver lives in ``receiver`` and ``receiver_api``.
"""
