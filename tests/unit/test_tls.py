"""The one TLS context sweepq's SDK clients share still verifies as theirs would."""

import ssl

from sweepq import tls
from sweepq.backends import AnthropicBackend


def test_one_context_per_process_that_checks_certificates_and_hostnames():
    context = tls.context()
    assert tls.context() is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_every_anthropic_backend_is_built_on_it(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    built = []
    real = tls.context
    monkeypatch.setattr(tls, "context", lambda: built.append(1) or real())
    AnthropicBackend()
    AnthropicBackend()
    assert len(built) == 2
