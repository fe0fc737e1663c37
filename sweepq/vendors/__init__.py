"""Models of other vendors: where a provider-qualified model id is sent.

A sweep's model map may name a provider (`judge=openai:gpt-5.4-mini`,
`flash=gemini:gemini-2.5-flash`, `small=local:qwen3:4b@http://127.0.0.1:11434/v1`);
a bare id is Claude's. `target` parses those ids (no SDK needed), `router` sends each
call to the backend of its provider, `openai` and `gemini` are the backends on each
vendor's own SDK, installed as the extras `sweepq[openai]` and `sweepq[gemini]`, so the
core install pulls no other vendor's SDK. Each backend classifies its own failures
(`failures.openai`, `failures.gemini`) and raises `CallFailed`.
"""
