"""IKEv2 (RFC 7296) for branchgate: wire numbers (const), the message codec (message), the SK payload
(sk) and the responder built on them."""
